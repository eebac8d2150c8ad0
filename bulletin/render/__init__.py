"""Render: Issue -> MJML -> HTML -> inlined HTML + plain text, once per edition."""
