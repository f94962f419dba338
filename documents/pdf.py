"""PDF rendering with fpdf2 (pure Python: no system library). Deterministic: the
creation date is the document's own date, the file id derives from the content, and
nothing random or clock-dependent is written, so the same input gives the same bytes.

The built-in Helvetica font covers Latin-1; other characters print as ``?``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, time

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from documents.company import Company, amount_text, money_text
from documents.letters import Letter
from documents.statement import BUCKETS, Statement

PRODUCER = "arledger documents"
LINE = 5.0
PAGE_WIDTH = 180.0  # A4 less 15 mm margins


def _text(value: object) -> str:
    return str(value).encode("latin-1", "replace").decode("latin-1")


class _Document(FPDF):
    """A4, the company's letterhead, and a page number in the footer."""

    def __init__(self, company: Company, title: str, dated: datetime) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.company, self.doc_title = company, title
        self.set_creation_date(dated)
        self.set_producer(PRODUCER)
        self.set_creator(PRODUCER)
        self.set_title(_text(title))
        self.set_author(_text(company.name))
        self.set_margins(15, 15, 15)
        self.set_auto_page_break(auto=True, margin=18)
        self.add_page()
        self._letterhead()

    def _letterhead(self) -> None:
        if self.company.logo_file is not None:
            self.image(str(self.company.logo_file), x=165, y=12, h=16)
        self.set_font("Helvetica", "B", 14)
        self.write_line(self.company.name, height=7)
        self.set_font("Helvetica", "", 9)
        for line in self.company.address:
            self.write_line(line, height=4)
        self.ln(4)
        self.set_font("Helvetica", "B", 16)
        self.write_line(self.doc_title, height=9)
        self.set_font("Helvetica", "", 10)

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("Helvetica", "", 8)
        self.cell(0, 5, _text(f"{self.company.name} - page {self.page_no()}"), align="C")

    def write_line(self, text: str, height: float = LINE, bold: bool = False) -> None:
        if bold:
            self.set_font("Helvetica", "B", 10)
        self.multi_cell(0, height, _text(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        if bold:
            self.set_font("Helvetica", "", 10)

    def row(self, cells: Sequence[str], widths: Sequence[float], header: bool = False) -> None:
        self.set_font("Helvetica", "B" if header else "", 9)
        for n, (value, width) in enumerate(zip(cells, widths, strict=True)):
            numeric = n > 0 and not header and _looks_numeric(value)
            self.cell(width, LINE + 1, _text(value), border="B", align="R" if numeric else "L")
        self.ln()
        self.set_font("Helvetica", "", 10)


def _looks_numeric(value: str) -> bool:
    return bool(value) and value.replace(",", "").replace(".", "").lstrip("-").isdigit()


def _pay(doc: _Document, links: Sequence[tuple[str, str]]) -> None:
    """How to pay: each invoice's payment link, then the bank details."""
    doc.ln(3)
    doc.write_line("How to pay", bold=True)
    for number, url in links:
        doc.write_line(f"Pay {number} online: {url}")
    if doc.company.bank_details:
        doc.write_line("By bank transfer to:")
        for line in doc.company.bank_details:
            doc.write_line(f"    {line}")
    if not links and not doc.company.bank_details:
        doc.write_line("Please contact us to arrange payment.")


def render_letter(letter: Letter, company: Company) -> bytes:
    doc = _Document(company, letter.title, letter.dated)
    cur = letter.total_chased.currency
    doc.write_line(f"Date: {letter.notice_on.isoformat()}")
    doc.write_line(f"To: {letter.account_name}")
    if letter.account_email:
        doc.write_line(f"Email: {letter.account_email}")
    doc.write_line(f"Reference: notice {letter.notice_id}")
    doc.ln(3)
    doc.write_line(
        f"Our records show the following invoices on your account are overdue. The total "
        f"we ask you to pay now is {money_text(letter.total_chased)}."
    )
    doc.ln(2)
    widths = (40, 30, 25, 30, 25, 30)
    heads = ("Invoice", "Due on", "Days overdue", "Outstanding", "Disputed", f"Due now ({cur})")
    doc.row(heads, widths, header=True)
    for r in letter.rows:
        amounts = (r.outstanding, r.disputed, r.chased)
        cells = [r.number, r.due_on.isoformat(), str(r.days_overdue)]
        doc.row([*cells, *(amount_text(a.amount_minor, cur) for a in amounts)], widths)
    doc.write_line(f"Total due now: {money_text(letter.total_chased)}", bold=True)
    doc.ln(3)
    doc.write_line("What happens next", bold=True)
    doc.write_line(letter.next_step)
    _pay(doc, [(r.number, r.payment_link) for r in letter.rows if r.payment_link])
    doc.ln(3)
    doc.write_line("If you have already paid, thank you, and please ignore this letter.")
    return bytes(doc.output())


def render_statement(statement: Statement, company: Company) -> bytes:
    dated = datetime.combine(statement.period_to, time(0, 0), tzinfo=UTC)
    doc = _Document(company, "Statement of account", dated)
    s, cur = statement, statement.currency
    doc.write_line(f"Account: {s.account_name}")
    doc.write_line(f"Period: {s.period_from.isoformat()} to {s.period_to.isoformat()}")
    known = f", as known at {s.as_known_at.isoformat()}" if s.as_known_at else ""
    doc.write_line(f"Currency: {cur} (ledger position {s.position}{known})")
    doc.ln(2)
    widths = (22, 24, 64, 23, 23, 24)
    doc.row(("Date", "Reference", "Details", "Debit", "Credit", "Balance"), widths, True)
    opening = amount_text(s.opening, cur)
    doc.row((s.period_from.isoformat(), "", "Opening balance", "", "", opening), widths)
    for line in s.lines:
        debit = amount_text(line.debit, cur) if line.debit else ""
        credit = amount_text(line.credit, cur) if line.credit else ""
        details = line.description[:48]
        cells = (line.on.isoformat(), line.reference[:14], details, debit, credit)
        doc.row((*cells, amount_text(line.balance, cur)), widths)
    closing = amount_text(s.closing, cur)
    doc.row((s.period_to.isoformat(), "", "Closing balance", "", "", closing), widths)
    _ageing(doc, s)
    _pay(doc, [(i.number, i.payment_link) for i in s.open_items if i.payment_link])
    return bytes(doc.output())


def _ageing(doc: _Document, s: Statement) -> None:
    cur = s.currency
    doc.ln(3)
    doc.write_line(f"What is open on {s.period_to.isoformat()}", bold=True)
    widths = (40, 30, 30, 40, 40)
    doc.row(("Invoice", "Due on", "Days overdue", "Outstanding", "Age"), widths, header=True)
    for item in s.open_items:
        cells = (item.number, item.due_on.isoformat(), str(item.days_overdue))
        doc.row((*cells, amount_text(item.outstanding, cur), item.bucket), widths)
    ageing = s.ageing
    doc.ln(2)
    columns = (30, 30, 30, 30, 30, 30)
    doc.row(("Ageing", *BUCKETS), columns, header=True)
    doc.row((cur, *(amount_text(ageing[b], cur) for b in BUCKETS)), columns)
    if s.unallocated:
        doc.write_line(f"Payments received and not yet applied: {amount_text(s.unallocated, cur)}")
    if s.deposits_held:
        doc.write_line(f"Deposits held as security: {amount_text(s.deposits_held, cur)}")
