"""The dashboard's pages, one function each; `PAGES` is the navigation, in order. (Not `pages/`: Streamlit
would take a folder of that name beside app.py for pages of its own.)"""

from dq_platform.services.dashboard.views.business import crypto, customers, erp, sales
from dq_platform.services.dashboard.views.health import health

# url path -> (title, icon, render)
PAGES = {
    "health": ("Pipeline health", ":material/monitor_heart:", health),
    "sales": ("Sales", ":material/payments:", sales),
    "crypto": ("Crypto markets", ":material/currency_bitcoin:", crypto),
    "customers": ("Customers", ":material/groups:", customers),
    "erp": ("ERP revenue", ":material/inventory_2:", erp),
}

__all__ = ["PAGES"]
