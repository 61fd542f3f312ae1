"""Which column of the prepared table plays which part downstream (category, gender, colour,
price, title, attributes), for any catalog source: read once from the prepared manifest, so no
later stage names a Fashion-MNIST column by hand."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from multimodal.config import CATEGORIES

FASHION_MNIST_ATTRIBUTES = ("category", "colour", "material", "style", "occasion", "season", "brand")


@dataclass(frozen=True)
class Roles:
    """The parts columns play. Fashion-MNIST's generated catalog is the default; a folder catalog's
    come from its schema (``manifest["schema"]``), with the sheet's own column names."""

    source: str = "fashion-mnist"
    name: str = "Fashion-MNIST"
    categories: tuple[str, ...] = CATEGORIES
    category: str = "category"
    gender: str | None = "gender"
    gender_map: Mapping[str, tuple[str, ...]] | None = None
    colour: str | None = "colour"
    price: str | None = "price"
    title: str | None = "title"
    text: tuple[str, ...] = ("title", "description")
    attributes: tuple[str, ...] = FASHION_MNIST_ATTRIBUTES
    numeric: tuple[str, ...] = ("price",)
    image_size: int = 28
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def is_folder(self) -> bool:
        return self.source == "folder"

    @property
    def category_column(self) -> str:
        """The catalog's own name of its category column ("articleType"; Fashion-MNIST: "category")."""
        return self.extra.get("category_column") or self.category

    def column(self, part: str) -> str | None:
        """The catalog's own column for a part every catalog may have (category, gender, colour,
        price, title); None where it has none. Any other name is returned as it is."""
        own = {"category": self.category_column, "gender": self.gender, "colour": self.colour, "price": self.price,
               "title": self.title}
        return own.get(part, part)

    @property
    def facets(self) -> tuple[str, ...]:
        """The columns a search can be narrowed by (the attributes; gender has its own filter)."""
        return tuple(c for c in self.attributes if c != self.gender)

    @property
    def own_columns(self) -> tuple[str, ...]:
        """A folder catalog's sheet columns a result shows, beside the fields every catalog has
        (none for Fashion-MNIST, whose fields the faces list)."""
        if not self.is_folder:
            return ()
        columns = (self.category_column, self.gender, self.colour, self.title, *self.attributes,
                   *self.numeric, *self.text)
        return tuple(dict.fromkeys(c for c in columns if c))

    @classmethod
    def of(cls, manifest: Mapping[str, Any]) -> Roles:
        """The roles of a prepared catalog, from its manifest."""
        if manifest.get("source") != "folder":
            return cls()
        schema = dict(manifest.get("schema") or {})

        def column(*keys: str) -> Any:
            return next((schema[k] for k in keys if schema.get(k)), None)

        categorical = tuple(column("categorical", "categorical_columns") or ())
        numeric = tuple(column("numeric", "numeric_columns") or ())
        text = tuple(column("text", "text_columns") or ())
        title = column("title", "title_column") or (text[0] if text else None)
        category = column("category", "category_column") or "category"
        gender = column("gender", "gender_column")
        colour = column("colour", "colour_column", "color")
        price = column("price", "price_column") or next((c for c in numeric if "price" in c.lower()), None)
        attributes = tuple(dict.fromkeys(c for c in (category, *categorical) if c and c != gender))
        mapping = column("gender_map", "gender_filters")
        return cls(
            source="folder", name=str(column("name") or "catalog"),
            categories=tuple(manifest.get("categories") or ()), category="category", gender=gender,
            gender_map={str(k): tuple(v) for k, v in mapping.items()} if isinstance(mapping, Mapping) else None,
            colour=colour, price=price, title=title, text=text or ((title,) if title else ()),
            attributes=attributes, numeric=numeric, image_size=int(manifest.get("image_size") or schema.get("image_size") or 64),
            extra={"category_column": category},
        )

    def filter_frame(self, catalog: pd.DataFrame) -> pd.DataFrame:
        """The three fields a vector store filters on (gender, category, price), from whichever
        columns hold them; a catalog without a gender or price column gets "" and 0."""
        gender = catalog[self.gender].astype(str) if self.gender in catalog else pd.Series("", index=catalog.index)
        price = (pd.to_numeric(catalog[self.price], errors="coerce").fillna(0.0) if self.price in catalog
                 else pd.Series(0.0, index=catalog.index))
        return pd.DataFrame({"product_id": catalog["product_id"].astype(str), "gender": gender,
                             "category": catalog["category"].astype(str), "price": price}, index=catalog.index)
