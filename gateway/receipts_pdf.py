"""A receipt as a PDF, made with fpdf2 (pure Python, the core Helvetica font)."""

from __future__ import annotations

import datetime as dt

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from gateway.humantime import human_time
from gateway.receipts import Receipt
from models.money import format_cents

#: Who issues the receipt.
ISSUER = "Hero"
#: The core fonts hold Latin-1 only; anything else is replaced by this.
_REPLACEMENT = "?"


def _latin1(text: str) -> str:
    """*text* as the core fonts can draw it (the middle dot and dashes become ASCII)."""
    text = text.replace("\u2014", "-").replace("\u2013", "-").replace("\u00b7", "-")
    return text.encode("latin-1", errors="replace").decode("latin-1").replace("\ufffd", "?")


def receipt_lines(receipt: Receipt) -> list[tuple[str, str]]:
    """The receipt's facts as (label, value) lines, shared by the page and the PDF."""
    lines = [
        ("Receipt number", receipt.number),
        ("Date", human_time(receipt.paid_at)),
        ("Account", receipt.address),
        ("Paid with", f"{receipt.provider_label}, {receipt.method}"),
        ("Payment reference", receipt.reference),
    ]
    if receipt.topup_reference:
        lines.append(("Top-up reference", receipt.topup_reference))
    lines.append(("Amount", f"{format_cents(receipt.amount_cents)} {receipt.currency}"))
    if receipt.balance_after_cents is not None:
        lines.append(("Balance after", format_cents(receipt.balance_after_cents)))
    return lines


def receipt_pdf(receipt: Receipt, *, issued_at: dt.datetime) -> bytes:
    """The receipt as one A4 page of PDF.

    Args:
        issued_at: when the PDF is made (aware UTC), printed in the footer.
    """
    pdf = FPDF(format="A4")
    pdf.set_title(_latin1(f"{ISSUER} receipt {receipt.number}"))
    pdf.set_author(ISSUER)
    pdf.set_creation_date(issued_at)
    pdf.set_auto_page_break(auto=True, margin=20)
    pdf.add_page()
    pdf.set_font("helvetica", style="B", size=20)
    pdf.cell(text=_latin1(f"{ISSUER} receipt"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("helvetica", size=11)
    if receipt.sandbox:
        pdf.set_text_color(150, 60, 0)
        pdf.cell(
            text="Sandbox payment: no real money was paid.",
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )
        pdf.set_text_color(0, 0, 0)
    pdf.ln(6)
    for label, value in receipt_lines(receipt):
        pdf.set_font("helvetica", style="B", size=11)
        pdf.cell(w=50, h=8, text=_latin1(label))
        pdf.set_font("helvetica", size=11)
        pdf.multi_cell(w=0, h=8, text=_latin1(value), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(8)
    pdf.set_font("helvetica", size=9)
    pdf.set_text_color(90, 90, 90)
    pdf.multi_cell(
        w=0,
        h=5,
        text=_latin1(
            f"Prepaid credit for Hero hosts, in US dollars. Issued {human_time(issued_at)}."
        ),
    )
    return bytes(pdf.output())
