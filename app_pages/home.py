"""Home: what each page teaches, and what this machine has (no TensorFlow needed)."""

import streamlit as st

from cnnviz import inventory
from cnnviz.app import boundary
from cnnviz.catalog import PAGES


def main() -> None:
    st.title("cnnviz: a CNN lab")
    st.write(
        "See what convolutional networks do: apply filters by hand, browse CIFAR-10, build and "
        "train a CNN live, look inside it, test it on rotated images and try a pretrained ResNet50."
    )
    st.subheader("Pages")
    for page in PAGES[1:]:
        st.page_link(page.path, label=page.title, icon=page.icon)
        st.caption(page.teaches)

    st.subheader("On this machine")
    with boundary.friendly_errors("Checking this machine"):
        report = inventory.report()
        _show_inventory(report)


def _show_inventory(report: dict) -> None:
    st.caption(f"Files are kept in `{report['home']}` (set `CNNVIZ_HOME` to change it).")
    for item in report["items"]:
        icon = ":material/check_circle:" if item["present"] else ":material/cloud_download:"
        st.markdown(f"{icon} **{item['name']}**: {item['detail']}")


main()
