"""Decode fetched bytes to the right text whatever a Chinese page declares: GBK family,
UTF-8, nothing at all, or a lie."""

from __future__ import annotations

import codecs
import re

import charset_normalizer  # a direct dependency of trafilatura, so always installed with it

# GB2312 and GBK are subsets of GB18030: decoding with the widest one never loses a character a
# page declared "gb2312" actually uses (e.g. 镕, 堃, 喆 are outside GB2312 but common in names).
_WIDEN = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "gb18030": "gb18030",
    "cp936": "gb18030",
    "x-gbk": "gb18030",
    "euc-cn": "gb18030",
    "hz-gb-2312": "gb18030",
    "big5": "big5hkscs",
}
# Every byte sequence is valid in these, so "it decoded" proves nothing: a GBK page that declares
# nothing reaches us (and Scrapy) as windows-1252 and would come out as mojibake.
_SINGLE_BYTE = frozenset(
    {"latin_1", "iso8859-1", "cp1252", "windows-1252", "ascii", "us-ascii", "iso8859-15"}
)
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_META = re.compile(
    rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_\-:.]+)|<\?xml[^>]+encoding\s*=\s*["']([a-zA-Z0-9_\-.]+)""",
    re.IGNORECASE,
)
_CONTENT_TYPE_CHARSET = re.compile(r"charset\s*=\s*[\"']?([a-zA-Z0-9_\-:.]+)", re.IGNORECASE)
# The most frequent Chinese characters: real GB18030 text is full of them, while UTF-8 or Latin
# bytes forced through GB18030 give rare characters and private-use code points.
_COMMON = frozenset(
    "的一是不了在人有我他这个们中来上大为和国地到以说时要就出会可也你对生能而子那得于着下自之年过"
    "发后作里用道行所然家种事成方多经么去法学如都同现当没动面起看定天分还进好小部其些主样理心她本前"
    "开但因只从想实日军者意无力它与长把机十民第公此已工使情明性知全三又关点正业外将两高间由问很最重"
    "并物手应战向头文体政美相见被利什二等产或新己制身果加西斯月话合回特代内信表化老给世位次度门任常"
    "先海通教儿原东声提立及比员解水名真论处走义各入几口认条平系气题活尔更别打女变四神总何电数安少报"
    "才结反受目太量再感建务做接必场件计管期市直德资命山金指克许统区保至队形社便空决治展马科司五基眼"
    "书非则听白却界达光放强即像难且权思王象完设式色路记南品住告类求据程北边死张该交规万取拉格望觉术"
    "领共确传师观清今切院让识候带导争运笑飞风步改收根干造言联持组每济车亲极林服快办议往元英士证近失"
    "转夫令准布始怎呢存未远叫台单影具罗字爱击流备兵连调深商算质团集百需价花党华城石级整府离况亚请技"
    "际约示复病息究线似官火断精满支视消越器容照须九增研写称企八功吗包片史委乎查轻易早曾除农找装广显"
    "吧阿李标谈吃图念六引历首医局突专费号尽另周较注语仅考落青随选列武红响虽推势参希古众构房半节土投"
    "某案黑维革划敌致陈律足态护七兴派孩验责营星够章音跟志底站严巴例防族供效续施留讲型料终答紧黄绝奇"
    "察母京段依批群项故按河米围江织害斗双境客纪采举杀攻父苏密低朝友诉止细愿千值仍男钱破网热助倒育属"
    "坐帝限船脸职速刻乐否刚威毛状率甚独球般普怕弹校苦创假久错承印晚兰试股拿脑预谁益阳若哪微尼继送急"
    "血惊伤素药适波夜省初喜卫源食险待述陆习置居劳财环排福纳欢雷警获模充负云停木游龙树疑层冷洲冲射略"
    "范竟句室异激汉村哈策演简卡罪判担州静退既衣您宗积余痛检差富灵协角占配征修皮挥胜降阶审沉坚善妈刘"
    "读啊超免压银买皇养伊怀执副乱抗犯追帮宣佛岁航优怪香著田铁控税左右份穿艺背阵草脚概恶块顿敢守酒岛"
    "托央户烈洋哥索胡款靠评版宝座释景顾弟登货互付伯慢欧换闻危忙核暗姐介坏讨丽良序升监临亮露永呼味野"
    "架域沙掉括舰鱼杂误湾吉减编楚肯测败屋跑梦散温困剑渐封救贵枪缺楼县尚毫移娘朋画班智亦耳恩短掌恐遗"
    "固席松秘谢鲁遇康虑幸均销钟诗藏赶剧票损忽巨炮旧端探湖录叶春乡附吸予礼港雨呀板庭妇归睛饭额含顺输"
    "摇招婚脱补谓督毒油疗旅泽材灭逐莫笔亡鲜词圣择寻厂睡博勒烟授诺伦岸奥唐卖俄炸载洛健堂旁宫喝借君禁"
    "阴园谋宋避抓荣姑孙逃牙束跳顶玉镇雪午练迫爷篇肉嘴馆遍凡础洞卷坦牛宁纸诸训私庄祖丝翻暴森塔默握戏"
    "隐熟骨访弱蒙歌店鬼软典欲萨伙遭盘爸扩盖弄雄稳忘亿刺拥徒姆杨齐赛趣曲刀床迎冰虚玩析窗醒妻透购替塞"
    "努休虎扬途侵刑绿兄迅套贸毕唯谷轮库迹尤竞街促延震弃甲伟麻川申缓潜闪售灯针哲络抵朱埃抱鼓植纯夏忍"
    "页杰筑折郑贝尊吴秀混臣雅振染盛怒舞圆搞狂措姓残秋培迷诚宽宇猛摆梅毁伸摩盟末乃悲拍丁赵尺"
)


def sniff_declared(body: bytes) -> str | None:
    """The charset a page or feed declares in its first bytes (meta tag or XML declaration)."""
    match = _META.search(body[:4096])
    if not match:
        return None
    return (match.group(1) or match.group(2)).decode("ascii", "replace")


def charset_from_content_type(content_type: str | None) -> str | None:
    """The ``charset=`` parameter of an HTTP Content-Type header, if any."""
    if not content_type:
        return None
    match = _CONTENT_TYPE_CHARSET.search(content_type)
    return match.group(1) if match else None


def _codec(name: str | None) -> str | None:
    """Python's name for a charset label, widened within the GB family; None if unknown."""
    if not name:
        return None
    try:
        canonical = codecs.lookup(name.strip().strip("\"'").lower()).name
    except LookupError:
        return None
    return _WIDEN.get(canonical, _WIDEN.get(name.strip().lower(), canonical))


def _looks_chinese(text: str) -> bool:
    """True when the non-ASCII part of ``text`` reads like Chinese rather than decoded garbage."""
    wide = [ch for ch in text if ord(ch) > 0x7F]
    if not wide:
        return True
    cjk = sum(
        1
        for ch in wide
        if "\u4e00" <= ch <= "\u9fff" or "\u3000" <= ch <= "\u303f" or "\uff00" <= ch <= "\uffef"
    )
    common = sum(1 for ch in wide if ch in _COMMON)
    # Short snippets are judged on CJK share alone; longer ones must also use everyday characters.
    return cjk / len(wide) >= 0.9 and (len(wide) < 20 or common / len(wide) >= 0.25)


def _strict(body: bytes, codec: str) -> str | None:
    try:
        return body.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None


def decode_body(
    body: bytes, declared: str | None, *, http_charset: str | None = None
) -> tuple[str, str]:
    """Return the text of ``body`` and the encoding actually used.

    ``declared`` is what the document says about itself (see :func:`sniff_declared`),
    ``http_charset`` what the server said; either may be missing or wrong. Order: a byte-order
    mark; strict UTF-8 (GBK text is practically never valid UTF-8, so a page that decodes
    strictly is UTF-8 whatever it claims); the declared, then the HTTP charset, widened to
    GB18030 and only if it decodes strictly into plausible text; GB18030 itself; then
    the least damaged Chinese reading of a page with a few broken bytes; a single-byte
    declaration; charset_normalizer's statistical guess; last, GB18030 with replacements.
    """
    for bom, bom_codec in _BOMS:
        if body.startswith(bom):
            return body.decode(bom_codec, errors="replace"), bom_codec
    as_utf8 = _strict(body, "utf-8")
    if as_utf8 is not None:
        return as_utf8, "utf-8"
    for label in (declared, http_charset):
        codec = _codec(label)
        if codec is None or codec in _SINGLE_BYTE or codec == "utf-8":
            continue
        text = _strict(body, codec)
        if text is not None and (not codec.startswith("gb") or _looks_chinese(text)):
            return text, codec
    as_gb = _strict(body, "gb18030")
    if as_gb is not None and _looks_chinese(as_gb):
        return as_gb, "gb18030"
    # A page with a few broken bytes (truncated at a size cap, a bad paste): keep the rest
    # readable in whichever Chinese-capable encoding loses the fewest characters.
    damaged = _least_damaged(body, [_codec(declared), _codec(http_charset), "gb18030", "utf-8"])
    if damaged is not None:
        return damaged
    # Not Chinese after all: a single-byte declaration is now the best evidence there is.
    for label in (declared, http_charset):
        single = _codec(label)
        if single is not None and single in _SINGLE_BYTE:
            return body.decode(single, errors="replace"), single
    best = charset_normalizer.from_bytes(body).best()
    if best is not None and best.encoding:
        guess = _codec(best.encoding) or best.encoding
        guessed = _strict(body, guess)
        if guessed is not None:
            return guessed, guess
    return body.decode("gb18030", errors="replace"), "gb18030"


def _least_damaged(body: bytes, codecs_: list[str | None]) -> tuple[str, str] | None:
    best: tuple[int, str, str] | None = None
    for codec in dict.fromkeys(c for c in codecs_ if c and c not in _SINGLE_BYTE):
        try:
            text = body.decode(codec, errors="replace")
        except LookupError:
            continue
        damage = text.count("\ufffd")
        wide = sum(1 for ch in text if ord(ch) > 0x7F)
        plausible = wide and damage * 50 <= wide and _looks_chinese(text.replace("\ufffd", ""))
        if plausible and (best is None or damage < best[0]):
            best = (damage, text, codec)
    return (best[1], best[2]) if best else None


def decode_page(body: bytes, content_type: str | None = None) -> tuple[str, str]:
    """Decode a fetched page using its own declaration and the Content-Type header as hints."""
    return decode_body(
        body, sniff_declared(body), http_charset=charset_from_content_type(content_type)
    )
