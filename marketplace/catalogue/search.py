"""Catalogue search: full text over name, summary and use cases, filters, stable order.

SQLite answers text queries from the FTS5 table ``innovation_fts`` (ranked by bm25);
PostgreSQL from the generated ``innovation.search_vector`` column (ranked by ts_rank).
Both are created by migration 0002. The user's words are reduced to plain terms (no
query syntax reaches either engine), all required, the last one as a prefix so that a
half-typed word still matches. Every order ends with the listing's unique internal key
(``pk``: creation order), so ties are broken the same way on every page.
"""
from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Select, func, literal_column, select, table
from sqlalchemy import column as sql_column
from sqlalchemy.orm import selectinload

from marketplace.approvals.service import pre_approved_now
from marketplace.catalogue import categories
from marketplace.catalogue.lifecycle import ListingStatus
from marketplace.catalogue.models import Innovation, InnovationCategory, InnovationPathwayStage
from marketplace.kernel.errors import Forbidden, InvalidInput, NotAuthenticated
from marketplace.kernel.unit_of_work import UnitOfWork
from schemas.statuses import Role

#: bm25 weight per FTS5 column, in table order: name, summary, use_cases.
SQLITE_WEIGHTS = (10.0, 2.0, 5.0)
MAX_TERMS = 12
MIN_PREFIX = 3
#: Dropped from queries: PostgreSQL's english stopword list (tsearch_data/english.stop), so
#: that both engines require the same words.
STOPWORDS = frozenset((
    "i", "me", "my", "myself", "we", "our", "ours", "ourselves", "you", "your", "yours",
    "yourself", "yourselves", "he", "him", "his", "himself", "she", "her", "hers",
    "herself", "it", "its", "itself", "they", "them", "their", "theirs", "themselves",
    "what", "which", "who", "whom", "this", "that", "these", "those", "am", "is", "are",
    "was", "were", "be", "been", "being", "have", "has", "had", "having", "do", "does",
    "did", "doing", "a", "an", "the", "and", "but", "if", "or", "because", "as", "until",
    "while", "of", "at", "by", "for", "with", "about", "against", "between", "into",
    "through", "during", "before", "after", "above", "below", "to", "from", "up", "down",
    "in", "out", "on", "off", "over", "under", "again", "further", "then", "once", "here",
    "there", "when", "where", "why", "how", "all", "any", "both", "each", "few", "more",
    "most", "other", "some", "such", "no", "nor", "not", "only", "own", "same", "so",
    "than", "too", "very", "s", "t", "can", "will", "just", "don", "should", "now"))
_WORD = re.compile(r"[^\W_]+", re.UNICODE)  # letters and digits, as both tokenisers split

_fts = table("innovation_fts", sql_column("rowid"))


def terms(q: str | None) -> list[str]:
    """The searchable words of ``q``, lower case, stopwords dropped, at most MAX_TERMS."""
    words = [w for w in _WORD.findall((q or "").lower()) if w not in STOPWORDS]
    return list(dict.fromkeys(words))[:MAX_TERMS]


def _prefix(words: list[str]) -> list[tuple[str, bool]]:
    return [(w, i == len(words) - 1 and len(w) >= MIN_PREFIX) for i, w in enumerate(words)]


def fts5_query(words: list[str]) -> str:
    """An FTS5 MATCH expression: every word quoted (so never syntax), the last a prefix."""
    return " ".join(f'"{w}"' + ("*" if prefix else "") for w, prefix in _prefix(words))


def tsquery(words: list[str]) -> str:
    """A to_tsquery string: words joined with ``&``, the last a prefix (``:*``)."""
    return " & ".join(w + (":*" if prefix else "") for w, prefix in _prefix(words))


def _text_match(stmt: Select[Any], dialect: str, words: list[str]) -> tuple[Select[Any], Any]:
    """Restrict ``stmt`` to listings matching ``words``; returns it and an ascending rank."""
    if dialect == "postgresql":
        vector = literal_column("innovation.search_vector")
        query = func.to_tsquery("english", tsquery(words))
        return stmt.where(vector.op("@@")(query)), -func.ts_rank(vector, query)
    weights = ", ".join(str(w) for w in SQLITE_WEIGHTS)
    hits = (select(_fts.c.rowid.label("pk"),
                   literal_column(f"bm25(innovation_fts, {weights})").label("score"))
            .where(literal_column("innovation_fts").op("MATCH")(fts5_query(words)))
            .subquery("hits"))
    return stmt.join(hits, hits.c.pk == Innovation.pk), hits.c.score


def search(uow: UnitOfWork, *, q: str | None = None, category: str | None = None,
           pathway: str | None = None, esf_tier: str | None = None,
           device_class: str | None = None, approved: bool | None = None,
           sort: str | None = None, mine: bool = False) -> Select[tuple[Innovation]]:
    """The catalogue query (published listings, or with ``mine`` the caller's own)."""
    stmt = select(Innovation).options(selectinload(Innovation.approvals))
    if mine:
        if uow.actor.is_anonymous:
            raise NotAuthenticated("mine=true lists an innovator's own listings; send an "
                                   "innovator token.")
        if uow.actor.role != Role.INNOVATOR:
            raise Forbidden("mine=true lists an innovator's own listings; use an innovator "
                            "token.")
        stmt = stmt.where(Innovation.organisation_id == uow.actor.organisation_id)
    else:
        stmt = stmt.where(Innovation.status == ListingStatus.PUBLISHED)
    if category:
        categories.check_known(uow, category)
        stmt = stmt.where(Innovation.pk.in_(select(InnovationCategory.innovation_pk).where(
            categories.under(category))))
    if pathway:
        stmt = stmt.where(Innovation.pk.in_(select(InnovationPathwayStage.innovation_pk).where(
            InnovationPathwayStage.stage == pathway)))
    if esf_tier:
        stmt = stmt.where(Innovation.esf_tier == esf_tier)
    if device_class:
        stmt = stmt.where(Innovation.device_class == device_class)
    if approved is not None:
        live = pre_approved_now(uow.now())
        stmt = stmt.where(live if approved else ~live)
    words = terms(q)
    sort = sort or ("relevance" if words else "recent")
    if sort == "relevance":
        if not words:
            raise InvalidInput("Sorting by relevance needs search words in q.",
                               {"sort": ["relevance needs q"]})
        stmt, rank = _text_match(stmt, uow.session.get_bind().dialect.name, words)
        return stmt.order_by(rank, Innovation.pk)
    if words:
        stmt, _ = _text_match(stmt, uow.session.get_bind().dialect.name, words)
    if mine:
        return stmt.order_by(Innovation.created_at.desc(), Innovation.pk.desc())
    return stmt.order_by(Innovation.published_at.desc(), Innovation.pk.desc())
