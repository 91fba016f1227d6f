"""Build small WXR exports shaped like WordPress's own (Tools → Export), for tests."""

from __future__ import annotations

SITE = "https://example.org"


def wxr(items: str, *, version: str = "1.2", channel: str = "") -> str:
    """A WXR document around `items`, shaped like WordPress's own export."""
    return f"""<?xml version="1.0" encoding="UTF-8" ?>
<rss version="2.0"
	xmlns:excerpt="http://wordpress.org/export/{version}/excerpt/"
	xmlns:content="http://purl.org/rss/1.0/modules/content/"
	xmlns:wfw="http://wellformedweb.org/CommentAPI/"
	xmlns:dc="http://purl.org/dc/elements/1.1/"
	xmlns:wp="http://wordpress.org/export/{version}/"
>
<channel>
	<title>Example Site</title>
	<link>{SITE}</link>
	<description>Just another site</description>
	<language>en-GB</language>
	<wp:wxr_version>{version}</wp:wxr_version>
	<wp:base_site_url>{SITE}</wp:base_site_url>
	<wp:base_blog_url>{SITE}</wp:base_blog_url>
	<wp:author>
		<wp:author_id>1</wp:author_id>
		<wp:author_login><![CDATA[jdoe]]></wp:author_login>
		<wp:author_display_name><![CDATA[Jane Doe]]></wp:author_display_name>
	</wp:author>
	<wp:category>
		<wp:term_id>1</wp:term_id>
		<wp:category_nicename>news</wp:category_nicename>
		<wp:cat_name><![CDATA[News]]></wp:cat_name>
	</wp:category>
	{channel}
	{items}
</channel>
</rss>
"""


def item(
    wp_id: int,
    *,
    post_type: str = "post",
    status: str = "publish",
    title: str = "",
    content: str = "",
    excerpt: str = "",
    creator: str = "jdoe",
    password: str = "",
    parent: int = 0,
    modified_gmt: str | None = "2024-02-03 04:05:06",
    date_gmt: str | None = "2024-01-02 03:04:05",
    categories: str = "",
    extra: str = "",
) -> str:
    modified = (
        f"<wp:post_modified_gmt>{modified_gmt}</wp:post_modified_gmt>" if modified_gmt else ""
    )
    date = f"<wp:post_date_gmt>{date_gmt}</wp:post_date_gmt>" if date_gmt else ""
    return f"""
	<item>
		<title><![CDATA[{title or f"Item {wp_id}"}]]></title>
		<link>{SITE}/?p={wp_id}</link>
		<dc:creator><![CDATA[{creator}]]></dc:creator>
		<description></description>
		<content:encoded><![CDATA[{content}]]></content:encoded>
		<excerpt:encoded><![CDATA[{excerpt}]]></excerpt:encoded>
		<wp:post_id>{wp_id}</wp:post_id>
		{date}{modified}
		<wp:status><![CDATA[{status}]]></wp:status>
		<wp:post_parent>{parent}</wp:post_parent>
		<wp:post_type><![CDATA[{post_type}]]></wp:post_type>
		<wp:post_password><![CDATA[{password}]]></wp:post_password>
		{categories}{extra}
		<wp:postmeta><wp:meta_key><![CDATA[_edit_last]]></wp:meta_key><wp:meta_value><![CDATA[1]]></wp:meta_value></wp:postmeta>
	</item>"""


def attachment(wp_id: int, path: str, *, parent: int = 0) -> str:
    return item(
        wp_id,
        post_type="attachment",
        status="inherit",
        parent=parent,
        extra=f"<wp:attachment_url><![CDATA[{SITE}/wp-content/uploads/{path}]]></wp:attachment_url>",
    )
