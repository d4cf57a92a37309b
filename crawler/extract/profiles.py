"""Forum profiles: where a board's list and thread pages keep each field, as CSS or XPath selectors.

Built-in profiles cover Discuz! X, Discuz! 6/7 and Tieba-style boards; any other forum gets a
profile from the ``selectors`` of its source in config (:meth:`ForumProfile.from_selectors`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields


class ProfileError(ValueError):
    """A forum profile from config that cannot work; the message names the key and the fix."""


@dataclass(frozen=True)
class ForumProfile:
    """Selectors start with ``/``, ``./`` or ``(`` for XPath; anything else is CSS (``::text``,
    ``::attr(x)`` allowed). Those marked relative are evaluated inside one row or one reply."""

    name: str
    # List pages (a board's index of threads).
    thread_item: str = ""  # one row per thread
    thread_link: str = ""  # relative: the link to the thread; its text is the title
    thread_replies: str = ""  # relative: the reply count
    thread_last: str = ""  # relative: the last reply time
    list_next: str = ""  # the next list page link (href)
    # Thread pages.
    thread_title: str = ""
    post_item: str = ""  # one element per reply
    post_author: str = ""  # relative
    post_time: str = ""  # relative; a ``title`` attribute holding a full date wins over the text
    post_text: str = ""  # relative: the element holding the reply's own words
    post_floor: str = ""  # relative: "楼主", "沙发", "5#", "12楼"
    post_anchor: str = ""  # relative: the reply's own id (pid), digits are taken from it
    post_reply_to: str = ""  # relative: a link or attribute naming the pid quoted
    thread_next: str = ""  # the next page of replies (href)
    # Nested replies shown under a reply (Tieba's 楼中楼); each is a reply to its parent.
    child_item: str = ""
    child_author: str = ""
    child_time: str = ""
    child_text: str = ""
    child_anchor: str = ""
    # Removed from reply text: quoted earlier replies, edit notes, hidden anti-copy text.
    remove: tuple[str, ...] = ()
    # Recognition: URL patterns, and an XPath that only this software's pages match.
    list_url: str = ""
    thread_url: str = ""
    marker: str = ""
    # The query parameter numbering a thread's pages (rewritten thread-TID-PAGE-1.html URLs
    # are recognised without it).
    page_param: str = "page"

    @classmethod
    def from_selectors(cls, name: str, selectors: dict[str, str]) -> ForumProfile:
        """Build a profile from a source's ``selectors`` in config, refusing what cannot work."""
        known = {f.name for f in fields(cls)} - {"name"}
        unknown = sorted(set(selectors) - known)
        if unknown:
            raise ProfileError(
                f"source {name!r}: unknown selector key(s) {', '.join(unknown)}; "
                f"known keys: {', '.join(sorted(known))}"
            )
        values: dict[str, object] = {}
        for key, value in selectors.items():
            if not isinstance(value, str) or not value.strip():
                raise ProfileError(f"source {name!r}: selector {key!r} must be a non-empty string")
            values[key] = tuple(v.strip() for v in value.split("||")) if key == "remove" else value
        has_list = "thread_item" in values and "thread_link" in values
        has_thread = "post_item" in values and "post_text" in values
        if not (has_list or has_thread):
            raise ProfileError(
                f"source {name!r}: a forum profile needs thread_item + thread_link (list pages) "
                "and/or post_item + post_text (thread pages)"
            )
        for key in ("list_url", "thread_url"):
            if key in values:
                try:
                    re.compile(str(values[key]))
                except re.error as exc:
                    raise ProfileError(
                        f"source {name!r}: {key} is not a valid regex: {exc}"
                    ) from None
        return cls(name=name, **values)  # type: ignore[arg-type]  # keys checked against fields above


_DISCUZ_REMOVE = (
    ".//div[contains(@class,'quote')]",
    ".//div[contains(@class,'blockquote')]",
    ".//i[contains(@class,'pstatus')]",
    ".//font[contains(@class,'jammer')]",
    ".//span[contains(translate(@style,' ',''),'display:none')]",
    ".//div[contains(@class,'attach_nopermission')]",
    ".//ignore_js_op",
    ".//script",
)

# The quoted reply's link, or the link in the "回复 2# 某某" line Discuz! writes at the top of
# a reply made with the reply button (no quote then).
_DISCUZ_REPLY_TO = (
    ".//div[contains(@class,'quote')]//a[contains(@href,'pid=')]/@href | "
    ".//strong[starts-with(normalize-space(.),'回复')]/a[contains(@href,'pid=')]/@href"
)

DISCUZ_X = ForumProfile(
    name="discuz_x",
    thread_item="//table[@id='threadlisttableid']/tbody[starts-with(@id,'normalthread_') "
    "or starts-with(@id,'stickthread_')]",
    thread_link=".//a[contains(concat(' ',@class,' '),' xst ')]",
    thread_replies=".//td[@class='num']/a",
    thread_last="(.//td[@class='by'])[last()]/em",
    list_next="//div[@class='pg']/a[@class='nxt']/@href",
    thread_title="//span[@id='thread_subject']",
    post_item="//div[@id='postlist']/div[starts-with(@id,'post_')][.//td[starts-with(@id,'postmessage_')]]",
    post_author=".//div[contains(@class,'authi')]/a[contains(@class,'xw1')]",
    post_time=".//em[starts-with(@id,'authorposton')]",
    post_text=".//td[starts-with(@id,'postmessage_')]",
    post_floor=".//a[starts-with(@id,'postnum')]",
    post_anchor="./@id",
    post_reply_to=_DISCUZ_REPLY_TO,
    thread_next="//div[@class='pg']/a[@class='nxt']/@href",
    remove=_DISCUZ_REMOVE,
    list_url=r"forum-\d+-\d+\.html|forum\.php\?(?:.*&)?mod=forumdisplay",
    thread_url=r"thread-\d+-\d+-\d+\.html|forum\.php\?(?:.*&)?mod=viewthread",
    marker="//meta[@name='generator'][starts-with(@content,'Discuz! X')] | "
    "//td[starts-with(@id,'postmessage_')][contains(@class,'t_f')] | "
    "//table[@id='threadlisttableid']",
)

DISCUZ_7 = ForumProfile(
    name="discuz_7",
    thread_item="//table[starts-with(@id,'forum_')]/tbody[starts-with(@id,'normalthread_') "
    "or starts-with(@id,'stickthread_')]",
    thread_link=".//th//span[starts-with(@id,'thread_')]/a",
    thread_replies=".//td[@class='nums']/strong",
    thread_last=".//td[@class='lastpost']/em",
    list_next="//div[@class='pages']/a[@class='next']/@href",
    thread_title="//div[@id='threadtitle']/h1",
    post_item="//div[@id='postlist']/div[starts-with(@id,'post_')]",
    post_author=".//td[@class='postauthor']/div[@class='postinfo']/a",
    post_time=".//em[starts-with(@id,'authorposton')]",
    post_text=".//td[starts-with(@id,'postmessage_')]",
    post_floor=".//a[starts-with(@id,'postnum')]",
    post_anchor="./@id",
    post_reply_to=_DISCUZ_REPLY_TO,
    thread_next="//div[@class='pages']/a[@class='next']/@href",
    remove=_DISCUZ_REMOVE,
    list_url=r"forumdisplay\.php\?",
    thread_url=r"viewthread\.php\?",
    marker="//meta[@name='generator'][starts-with(@content,'Discuz! 7') or "
    "starts-with(@content,'Discuz! 6')] | //td[contains(@class,'t_msgfont')]",
)

TIEBA = ForumProfile(
    name="tieba",
    thread_item="//li[contains(concat(' ',@class,' '),' j_thread_list ')]",
    thread_link=".//a[contains(concat(' ',@class,' '),' j_th_tit ')]",
    thread_replies=".//span[contains(@class,'threadlist_rep_num')]",
    thread_last=".//span[contains(@class,'threadlist_reply_date')]",
    list_next="//div[@id='frs_list_pager']/a[contains(@class,'next')]/@href",
    thread_title="//h3[contains(@class,'core_title_txt')]/@title",
    post_item="//div[contains(concat(' ',@class,' '),' j_l_post ')]",
    post_author=".//a[contains(@class,'p_author_name')]",
    post_time="(.//div[@class='post-tail-wrap']/span[@class='tail-info'])[last()]",
    post_text=".//div[contains(@class,'j_d_post_content')]",
    post_floor=".//div[@class='post-tail-wrap']/span[@class='tail-info'][contains(.,'楼')]",
    post_anchor=".//div[contains(@class,'j_d_post_content')]/@id",
    thread_next="(//li[contains(@class,'l_pager')])[1]/a[normalize-space(.)='下一页']/@href",
    child_item=".//li[contains(@class,'lzl_single_post')]",
    # The nested reply's author link (its `username`), or the older data-username.
    child_author=".//div[@class='lzl_cnt']/a[@username][1]/@username | "
    ".//span[@class='lzl_content_main']/@data-username",
    child_time=".//span[@class='lzl_time']",
    child_text=".//span[@class='lzl_content_main']",
    child_anchor="./@data-field",
    remove=(".//script",),
    list_url=r"/f\?(?:.*&)?kw=",
    thread_url=r"/p/\d+",
    page_param="pn",
    marker="//div[contains(concat(' ',@class,' '),' j_l_post ')] | "
    "//li[contains(concat(' ',@class,' '),' j_thread_list ')]",
)

BUILT_IN: dict[str, ForumProfile] = {p.name: p for p in (DISCUZ_X, DISCUZ_7, TIEBA)}
