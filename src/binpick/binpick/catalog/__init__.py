"""The objects binpick knows: meshes, models_info (diameter, symmetries) and grasp sets."""
from binpick.catalog.catalog import Catalog, CatalogError, CatalogObject

__all__ = ['Catalog', 'CatalogError', 'CatalogObject']
