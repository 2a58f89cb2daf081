"""The columns of a priced item, shared by contract, order and invoice lines: what is
bought, its unit and unit price (integer pence, no VAT) and its VAT treatment, as the
``PricedLineSchema`` of the events carries them."""
from __future__ import annotations

from sqlalchemy import BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column


class PricedLine:
    """Mixin: a line of a priced document (the table adds its parent's key and checks)."""

    line_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    item_id: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(500))
    unit_code: Mapped[str] = mapped_column(String(3))
    unit_price_pence: Mapped[int] = mapped_column(BigInteger)
    vat_category: Mapped[str] = mapped_column(String(2))
    vat_rate: Mapped[str] = mapped_column(String(8))
