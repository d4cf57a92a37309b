"""The speed-ups give the answers of the plain paths: batch repost signatures, the cue-word
pre-check, the cached sub-words and IDF priors, cue matching on the analyzer's one cut, the
pattern gate."""

from __future__ import annotations

import json
import random
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from analysis.analyzer import Item
from analysis.category import classify, default_categorizer
from analysis.folding import Folder, _content_codes, strip_boilerplate
from analysis.keywords import IdfModel
from analysis.lexicons import CueMatcher
from analysis.normalize import normalize
from analysis.segment import Segmenter
from analysis.severity import escalation_matcher, escalation_words
from core.settings import load_settings
from pipelines.analysis import build_analyzer

TEXTS = [
    "江州理工大学三食堂的饭菜太贵了，排队还要半小时，希望学校重视一下这个问题。",
    "转发微博 //@小王: 江州理工大学三食堂的饭菜太贵了，排队还要半小时，希望学校重视。",
    "短",
    "图书馆座位不够，每天早上六点就有人占座，建议增加自习室的开放时间。",
    "#江理工# 图书馆座位不够，每天早上六点就有人占座，建议增加自习室开放时间 http://t.cn/abc",
    "今天天气很好，去体育馆打了一场羽毛球，心情不错。",
]
EVAL = [
    json.loads(line)
    for line in (Path(__file__).parent / "data" / "category_eval.jsonl")
    .read_text("utf-8")
    .split("\n")
    if line.strip()
]


def test_batch_signatures_equal_one_by_one() -> None:
    folder = Folder()
    signer = folder._signer
    for text, (size, signature, keys) in zip(TEXTS, folder.sign_many(TEXTS), strict=True):
        codes = _content_codes(strip_boilerplate(text))
        assert size == codes.size
        if size < folder.config.min_chars:
            assert signature is None and keys == []
            continue
        assert signature is not None
        alone = signer.sign(signer.shingles(codes))
        assert np.array_equal(signature, alone)
        assert keys == folder._band_keys(alone)


def test_folding_with_batch_signatures_gives_the_same_clusters() -> None:
    plain, batched = Folder(), Folder()
    start = datetime(2026, 3, 1, tzinfo=UTC)
    signed = batched.sign_many(TEXTS)
    for n, text in enumerate(TEXTS):
        when = start + timedelta(minutes=n)
        one = plain.add(f"p{n}", text, "weibo.com", when)
        other = batched.add(f"p{n}", text, "weibo.com", when, signed[n])
        assert one == other
    assert plain.cluster_of("p1") == "p0"  # the repost folded, so the test can tell


def test_cue_words_found_only_when_present_in_the_text() -> None:
    matcher = CueMatcher(["领导批示", "游行", "媒体曝光"])
    assert matcher.find("今天天气很好") == []
    hits = matcher.find("听说已经有领导批示了，还有人要去游行示威")
    assert [h.cue for h in hits] == ["领导批示", "游行"]


def test_cached_subwords_repeat_the_first_answer() -> None:
    segmenter = Segmenter(["苏大附一院"])
    first = segmenter.index_tokens("苏州大学附属医院和苏大附一院")
    assert "大学" in first
    assert segmenter.index_tokens("苏州大学附属医院和苏大附一院") == first


def test_cached_idf_prior_follows_a_changed_prior() -> None:
    model = IdfModel(prior_docs=1000)
    before = model.idf("食堂")
    model.prior_docs = 10
    assert model.idf("食堂") != before
    assert model.idf("食堂") == IdfModel(prior_docs=10).idf("食堂")


def test_cut_offsets_are_the_tokens_offsets() -> None:
    segmenter = Segmenter(["江州理工大学", "三食堂"])
    for text in TEXTS:
        words, starts = segmenter.cut_offsets(normalize(text))
        tokens = segmenter.tokens(text)
        assert words == [t.word for t in tokens]
        assert starts == [t.start for t in tokens]


def test_cue_hits_on_a_given_cut_equal_the_matchers_own() -> None:
    """find_tokens on a cut whose dictionary holds the cue words gives find's hits."""
    matchers = [default_categorizer().matcher, escalation_matcher()]
    segmenter = Segmenter(matchers[0].words | matchers[1].words)
    texts = [*TEXTS, *(row["text"] for row in EVAL)]
    texts += ["领导批示：有人员伤亡，媒体曝光后网友围观？？", "如果食堂能延长供餐时间就好了！！！"]
    for text in texts:
        norm = normalize(text.strip())
        words, starts = segmenter.cut_offsets(norm)
        for matcher in matchers:
            own = [(h.cue, h.start, h.text) for h in matcher.find(text)]
            given = [(h.cue, h.start, h.text) for h in matcher.find_tokens(norm, words, starts)]
            assert sorted(given) == sorted(own), text


def test_the_pattern_gate_never_skips_a_pattern_that_matches() -> None:
    patterns = [
        "[?？]",
        "吗[?？]?$",
        "(正常|合理|对)吗",
        "发了?.{0,3}群",
        "能不能.{0,8}加",
        "a?b",
        "(过会儿?|晚了).{0,4}没了",
        "不能",
        "ab|cd",
        "[!！]{3,}",
        "x+y",
        "能否",
    ]
    matcher = CueMatcher([f"re:{p}" for p in patterns])
    pieces = [
        "能不能",
        "能否",
        "吗",
        "?",
        "对",
        "发",
        "群",
        "b",
        "cd",
        "!!!",
        "xy",
        "过会",
        "没了",
        "晚了",
        "加",
        "的",
        "，",
    ]
    rnd = random.Random(5)
    compiled = [re.compile(p) for p in patterns]
    for _ in range(3000):
        text = "".join(rnd.choice(pieces) for _ in range(rnd.randint(1, 8)))
        found = {cue for cue, _, _ in ((h.cue, h.start, h.text) for h in matcher.find(text))}
        assert found == {
            f"re:{p}" for p, c in zip(patterns, compiled, strict=True) if c.search(text)
        }


def test_the_analyzer_finds_the_category_and_escalation_of_the_standalone_parts() -> None:
    analyzer = build_analyzer(load_settings("config/example"))
    texts = [row["text"] for row in EVAL] + TEXTS
    results = analyzer.analyze([Item(text=t) for t in texts])
    for text, result in zip(texts, results, strict=True):
        alone = classify(text)
        assert (result.category.category, result.category.cues) == (alone.category, alone.cues)
        words = escalation_words(text)
        shown = [r.split(" (+")[0] for r in result.severity.reasons if r.startswith("升级词: ")]
        assert shown == ([f"升级词: {'、'.join(words)}"] if words else []), text


def test_cue_words_added_for_matching_do_not_reach_keywords_or_tokens() -> None:
    """The shared cut holds the cue words; the tokens and keywords are the words the
    institution's dictionary gives (买的 stays 买/的)."""
    settings = load_settings("config/example")
    analyzer = build_analyzer(settings)
    base = Segmenter(settings.dictionary_words())
    cues = default_categorizer().matcher.words | escalation_matcher().words
    split = {cue for cue in cues if base.cut(cue) != [cue]}
    assert split  # else the test could not fail
    texts = [row["text"] for row in EVAL]
    for text, result in zip(texts, analyzer.analyze([Item(text=t) for t in texts]), strict=True):
        assert not split & set(result.tokens), text
        assert not split & {k.word for k in result.keywords}, text
