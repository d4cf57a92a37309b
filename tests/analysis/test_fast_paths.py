"""The speed-ups give the answers of the plain paths: batch repost signatures, the cue-word
pre-check, the cached sub-words and IDF priors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from analysis.folding import Folder, _content_codes, strip_boilerplate
from analysis.keywords import IdfModel
from analysis.lexicons import CueMatcher
from analysis.segment import Segmenter

TEXTS = [
    "江州理工大学三食堂的饭菜太贵了，排队还要半小时，希望学校重视一下这个问题。",
    "转发微博 //@小王: 江州理工大学三食堂的饭菜太贵了，排队还要半小时，希望学校重视。",
    "短",
    "图书馆座位不够，每天早上六点就有人占座，建议增加自习室的开放时间。",
    "#江理工# 图书馆座位不够，每天早上六点就有人占座，建议增加自习室开放时间 http://t.cn/abc",
    "今天天气很好，去体育馆打了一场羽毛球，心情不错。",
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
