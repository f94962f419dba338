"""The published event contract: each event's stable type name, id and payload
(``catalog``), its JSON Schema (``schemas``) and the CloudEvents codec (``cloudevents``)."""
