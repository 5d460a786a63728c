"""The dashboard's pages, one function each; `PAGES` is the navigation, in order."""

from dq_platform.services.dashboard.pages.business import crypto, customers, erp, sales
from dq_platform.services.dashboard.pages.health import health

# url path -> (title, icon, render)
PAGES = {
    "health": ("Pipeline health", ":material/monitor_heart:", health),
    "sales": ("Sales", ":material/payments:", sales),
    "crypto": ("Crypto markets", ":material/currency_bitcoin:", crypto),
    "customers": ("Customers", ":material/groups:", customers),
    "erp": ("ERP revenue", ":material/inventory_2:", erp),
}

__all__ = ["PAGES"]
