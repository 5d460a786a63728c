"""The dashboard's script: `dq-platform dashboard` runs it with `streamlit run`.

Pages (`views.PAGES`): pipeline health first, then the business pages. Settings (DAGSTER_HOME,
DQ_WAREHOUSE_URI, DQ_CONTRACTS_DIR, DQ_PROJECT_DIR) say where the data is, as for every command.
"""

import streamlit as st

from dq_platform.services.dashboard.views import PAGES

st.set_page_config(page_title="dq_platform", page_icon=":material/monitor_heart:", layout="wide")
navigation = st.navigation(
    [
        st.Page(render, title=title, icon=icon, url_path=path, default=(i == 0))
        for i, (path, (title, icon, render)) in enumerate(PAGES.items())
    ]
)
st.session_state["page"] = navigation.url_path
navigation.run()
