"""The sentiment model: quality gate on the held-out split, API behaviour, reproducible training."""

from __future__ import annotations

import importlib.util
import io
import json
import math
import subprocess
import sys
import zipfile
from collections import Counter
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import rjieba

from analysis.sentiment import (
    SentimentModel,
    SentimentModelError,
    SentimentResult,
    features,
    normalize,
)
from core.post import Sentiment

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "data" / "sentiment"

# The shipped model trained on all of weibo2018, held-out part included, so it cannot be
# measured on that part. The same recipe trained without it is kept here, and the gate measures
# that one (docs/sentiment-data-card.md); the tests below check both are the same recipe.
TRAIN_PART_MODEL = Path(__file__).parent / "data" / "sentiment_train80.npz"
# Measured on the held-out split with that model: accuracy 0.8698 and negative F1 0.8526; pinned a
# little below so a regression fails.
ACCURACY_FLOOR = 0.86
NEGATIVE_F1_FLOOR = 0.845
# With neutral counted as wrong (1.3 % neutral): 0.8591; the band before the evidence rule
# gave 0.8519.
THREE_WAY_ACCURACY_FLOOR = 0.855
NEWS_NEUTRAL_FLOOR = 0.6


def _train_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "train_sentiment", REPO / "scripts" / "train_sentiment.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def model() -> SentimentModel:
    return SentimentModel.load()


@pytest.fixture(scope="module")
def train_part_model() -> SentimentModel:
    return SentimentModel.load(TRAIN_PART_MODEL)


@pytest.fixture(scope="module")
def trainer() -> ModuleType:
    return _train_script()


def test_train_part_model_meets_floors_on_heldout(
    train_part_model: SentimentModel, trainer: ModuleType
) -> None:
    if not (DATA / trainer.TRAIN_FILE).is_file():
        pytest.skip(f"labelled data not found at {DATA} (CI keeps shared/ beside the clone)")
    _, heldout = trainer.split(trainer.load_rows(DATA / trainer.TRAIN_FILE))
    assert len(heldout) > 1500
    figures = trainer.evaluate(train_part_model, heldout)
    assert figures["accuracy"] >= ACCURACY_FLOOR
    assert figures["negative_f1"] >= NEGATIVE_F1_FLOOR
    assert figures["accuracy_3way"] >= THREE_WAY_ACCURACY_FLOOR


def test_heldout_texts_were_not_trained_on_by_the_gated_model(
    model: SentimentModel, train_part_model: SentimentModel, trainer: ModuleType
) -> None:
    if not (DATA / trainer.TRAIN_FILE).is_file():
        pytest.skip(f"labelled data not found at {DATA} (CI keeps shared/ beside the clone)")
    rows = trainer.load_rows(DATA / trainer.TRAIN_FILE)
    train, heldout = trainer.split(rows)
    assert not {t for t, _ in train} & {t for t, _ in heldout}
    assert train_part_model.meta["train_rows"] == len(train)
    assert train_part_model.meta["heldout_trained"] is False
    assert model.meta["train_rows"] == len(rows) and model.meta["heldout_trained"] is True


def test_shipped_model_is_the_gated_recipe_on_more_data(
    model: SentimentModel, train_part_model: SentimentModel
) -> None:
    recipe = ["c", "class_weight", "extra", "min_df", "extra_min_df", "seed", "feature_version"]
    assert {k: model.meta[k] for k in recipe} == {k: train_part_model.meta[k] for k in recipe}
    assert model.neutral_band == train_part_model.neutral_band
    assert model.neutral_evidence == train_part_model.neutral_evidence
    assert model.meta["extra_rows"] >= train_part_model.meta["extra_rows"]


def test_clear_cases_and_api(model: SentimentModel) -> None:
    texts = [
        "垃圾学校，食堂饭菜难吃得要死，投诉了也没人管，太让人失望了[怒]",
        "今天的毕业典礼太感动了，感谢老师们四年的培养，爱你母校[心]",
    ]
    negative, positive = model.predict(texts)
    assert isinstance(negative, SentimentResult)
    assert negative.label is Sentiment.NEGATIVE and negative.score < 0.2
    assert positive.label is Sentiment.POSITIVE and positive.score > 0.8


# Posts of the kind the opinion office reads (complaints and praise about a university, a
# hospital, a police station), written for this test after the model design was fixed, so they
# were never used to choose anything. Weibo-only training got 15 of these 20 right.
INSTITUTION_NEGATIVE = [
    "医院挂号排了三个小时，护士还爱答不理的",
    "学校强制学生实习，不去就不给毕业证，这合理吗？",
    "这家医院乱收费，一个感冒花了八百多",
    "宿舍楼漏水一个月了，报修好几次都没人来",
    "学院领导打官腔，问题一拖再拖",
    "食堂又涨价了，饭菜质量还越来越差",
    "快递站态度极差，丢了件还不认账",
    "老师上课就念PPT，一学期什么都没学到",
    "派出所办事效率太低，跑了五趟还没办好",
    "校园网又断了，每年交那么多钱就这服务？",
]
INSTITUTION_POSITIVE = [
    "感谢急诊科的医生护士，凌晨还这么耐心",
    "新图书馆太漂亮了，学习氛围特别好",
    "学校给留校学生发了年夜饭，好暖心",
    "导师人超好，论文一遍遍帮我改",
    "今天的运动会太精彩了，为我们学院骄傲",
    "社区工作人员很负责，半天就帮我办完了",
    "校医院的阿姨特别细心，谢谢她",
    "恭喜我校女排夺冠！",
    "这次招聘会企业很多，收获满满",
    "食堂新开的窗口很好吃，价格也公道",
]
INSTITUTION_FLOOR = 17  # of 20; both the shipped and the 80 % model get 18


@pytest.mark.parametrize("which", ["shipped", "train_part"])
def test_institution_posts_spot_check(
    which: str, model: SentimentModel, train_part_model: SentimentModel
) -> None:
    chosen = model if which == "shipped" else train_part_model
    negative = chosen.scores(INSTITUTION_NEGATIVE)
    positive = chosen.scores(INSTITUTION_POSITIVE)
    assert int(np.sum(negative < 0.5) + np.sum(positive >= 0.5)) >= INSTITUTION_FLOOR


def test_batch_equals_one_by_one_and_keeps_order(model: SentimentModel) -> None:
    texts = ["服务态度很差", "", "非常满意，下次还来", "今天下雨了", "服务态度很差"]
    batch = model.predict(texts)
    single = [model.predict([t])[0] for t in texts]
    assert [r.label for r in batch] == [r.label for r in single]
    assert np.allclose([r.score for r in batch], [r.score for r in single])
    assert batch[0] == batch[4]
    assert model.predict([]) == []


def test_given_tokens_equal_own_cut(model: SentimentModel, trainer: ModuleType) -> None:
    texts = [
        "垃圾学校，食堂饭菜难吃得要死，投诉了也没人管[怒]",
        "ＷＥＩＢＯ 全角 和\t多个   空格",
        "",
        "感谢老师们的培养，爱你母校[心]",
        "今天下雨了",
    ]
    if (DATA / trainer.TRAIN_FILE).is_file():  # real posts too, when the data is at hand
        texts += [t for t, _ in trainer.load_rows(DATA / trainer.TRAIN_FILE)[:300]]
    cut = [rjieba.cut(normalize(t)) for t in texts]
    assert model.predict(texts, tokens=cut) == model.predict(texts)
    assert np.array_equal(model.scores(texts, cut), model.scores(texts), equal_nan=True)


def test_given_tokens_are_what_the_words_come_from(model: SentimentModel) -> None:
    text = "服务态度很差"
    # Other words give another score: the given tokens are used, not a fresh cut.
    own = model.scores([text])[0]
    assert model.scores([text], [rjieba.cut(text)])[0] == own
    assert model.scores([text], [["服务", "态度", "很差"]])[0] != own
    assert model.scores([text], [[]])[0] != own
    with pytest.raises(ValueError, match="1 word lists for 2 texts"):
        model.predict([text, text], tokens=[["服务"]])
    with pytest.raises(TypeError, match="tokens 0 is str"):
        model.predict([text], tokens=["服务态度很差"])


def _reference_scores(model: SentimentModel, texts: list[str]) -> list[float]:
    """The model's formula written plainly over `features`, the definition training uses."""
    out = []
    for text in texts:
        counts = Counter(f for f in features(text) if f in model._vocabulary)
        ids = [model._vocabulary[f] for f in counts]
        tf = 1.0 + np.log(np.asarray(list(counts.values()), dtype=np.float64))
        norm = math.sqrt(float(np.sum((tf * model._idf[ids]) ** 2)))
        if norm == 0:
            out.append(math.nan)
            continue
        z = float(np.sum(tf * model._weight[ids])) / norm + model._intercept
        out.append(1.0 / (1.0 + math.exp(-z)))
    return out


def test_fast_path_equals_reference_features(model: SentimentModel) -> None:
    texts = [
        "服务态度很差 ， 再也不来了！！",
        "ＷＥＩＢＯ 全角字母 和\t多个   空格\n换行",
        "好",
        "",
        "一二",
        "表情[允悲][二哈]和未知表情[不存在的表情名字太长了]",
        "emoji 😀😡 astral 𠀀𠀁 chars",
        "這是繁體字，老師講得很好",
        "a",
    ]
    batch = model.scores(texts)
    expected = _reference_scores(model, texts)
    assert np.allclose(batch, expected, equal_nan=True, atol=1e-9)
    for text, score in zip(texts, expected, strict=True):
        assert np.allclose(model.scores([text]), [score], equal_nan=True, atol=1e-9)


def test_text_without_known_features_is_neutral(model: SentimentModel) -> None:
    for text in ["", "   \n\t", "𓀀𓀁𓀂"]:
        (result,) = model.predict([text])
        assert result == SentimentResult(Sentiment.NEUTRAL, 0.5)


def test_neutral_is_little_evidence_and_can_be_overridden(model: SentimentModel) -> None:
    texts = ["服务态度很差", "非常满意", "今天下雨了", "我觉得还行吧", "不知道说什么", "下周一开会"]
    assert model.neutral_band == (0.5, 0.5) and model.neutral_evidence > 0
    evidence, scores = model.evidence(texts), model.scores(texts)
    for result, size, p in zip(model.predict(texts), evidence, scores, strict=True):
        if size < model.neutral_evidence:
            assert result.label is Sentiment.NEUTRAL and result.score == p
        else:
            assert (p < 0.5) == (result.label is Sentiment.NEGATIVE)
    assert any(r.label is Sentiment.NEUTRAL for r in model.predict(texts))
    two_way = SentimentModel.load(neutral_band=(0.5, 0.5), neutral_evidence=0.0).predict(texts)
    assert [r.label is Sentiment.POSITIVE for r in two_way] == [s > 0.5 for s in scores]
    band = SentimentModel.load(neutral_band=(0.4, 0.6), neutral_evidence=0.0).predict(texts)
    assert [r.label is Sentiment.NEUTRAL for r in band] == [0.4 <= s <= 0.6 for s in scores]
    with pytest.raises(ValueError, match="neutral band"):
        SentimentModel.load(neutral_band=(0.6, 0.7))


def test_an_older_model_file_keeps_its_band(tmp_path: Path) -> None:
    # Files written before the evidence rule carry a band and no evidence level: as before.
    older = tmp_path / "older.npz"
    with zipfile.ZipFile(TRAIN_PART_MODEL) as source, zipfile.ZipFile(older, "w") as target:
        for name in source.namelist():
            data = source.read(name)
            if name == "meta.npy":
                meta = json.loads(bytes(np.load(io.BytesIO(data))).decode("utf-8"))
                del meta["neutral_evidence"]
                meta["neutral_low"], meta["neutral_high"] = 0.47, 0.53
                array = np.frombuffer(json.dumps(meta).encode("utf-8"), np.uint8)
                buffer = io.BytesIO()
                np.lib.format.write_array(buffer, array, allow_pickle=False)
                data = buffer.getvalue()
            target.writestr(name, data)
    loaded = SentimentModel.load(older)
    assert loaded.neutral_band == (0.47, 0.53) and loaded.neutral_evidence == 0.0


def test_news_and_notices_are_mostly_neutral(
    model: SentimentModel, train_part_model: SentimentModel, trainer: ModuleType
) -> None:
    # tests/analysis/data/sentiment_neutral.tsv: 52 headlines and notices written for this
    # check. The 80 % model calls 36 of them neutral (the old 0.47-0.53 band: 11).
    texts = trainer.neutral_texts()
    assert len(texts) >= 50
    for chosen in (model, train_part_model):
        labels = [r.label for r in chosen.predict(texts)]
        assert labels.count(Sentiment.NEUTRAL) >= NEWS_NEUTRAL_FLOOR * len(texts)


def test_bad_input_gets_clear_errors(model: SentimentModel, tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="text 1 is int"):
        model.predict(["好", 3])  # type: ignore[list-item]  # the wrong type is the point
    with pytest.raises(SentimentModelError, match="cannot read"):
        SentimentModel.load(tmp_path / "missing.npz")
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip file")
    with pytest.raises(SentimentModelError, match="not a sentiment model"):
        SentimentModel.load(garbage)


def test_features_normalise_and_keep_emoticons() -> None:
    assert features("ＡＢ") == features("ab")
    assert "e[允悲]" in features("笑死[允悲]")
    assert "c很差" in features("很差") and "w很差" in features("服务很差")


def test_analysis_imports_nothing_downstream() -> None:
    code = (
        "import sys, analysis.sentiment; "
        "print(sorted(m for m in sys.modules "
        "if m.split('.')[0] in {'store','service','crawler','pipelines','alerts','sklearn'}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


POSITIVE = ["老师讲得很好", "非常满意", "感谢学校", "太棒了", "好开心", "服务周到", "点赞"]
NEGATIVE = ["太差了", "很失望", "垃圾", "气死了", "难吃", "投诉无门", "恶心"]


def _tiny_corpus(folder: Path) -> None:
    lines = ["label,text"]
    for i in range(40):
        lines.append(f"1,{POSITIVE[i % 7]}，第{i}次{POSITIVE[(i + 3) % 7]}")
        lines.append(f"0,{NEGATIVE[i % 7]}，第{i}次{NEGATIVE[(i + 2) % 7]}")
    (folder / "weibo2018_train.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    reviews = ["label,text", "0,饭菜难吃，送餐太慢", "1,好吃，送餐快", "0,难吃", "1,很好吃"]
    (folder / "waimai_10k.csv").write_text("\n".join(reviews) + "\n", encoding="utf-8")


def test_training_is_deterministic_and_export_matches_sklearn(
    tmp_path: Path, trainer: ModuleType
) -> None:
    _tiny_corpus(tmp_path)
    first, second = tmp_path / "a.npz", tmp_path / "b.npz"
    extra = ["--extra", "waimai_10k.csv=0.1"]
    assert trainer.main(["--data", str(tmp_path), "--out", str(first), "--c", "2", *extra]) == 0
    assert trainer.main(["--data", str(tmp_path), "--out", str(second), "--c", "2", *extra]) == 0
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as archive:
        assert sorted(archive.namelist()) == [
            "idf.npy",
            "intercept.npy",
            "meta.npy",
            "vocab.npy",
            "weight.npy",
        ]

    # The numpy-only runtime must give the probabilities scikit-learn gives.
    rows = trainer.load_rows(tmp_path / "weibo2018_train.csv")
    train, _ = trainer.split(rows)
    reviews = trainer.load_rows(tmp_path / "waimai_10k.csv")
    fitted = (trainer.Corpus.of(train) + trainer.Corpus.of(reviews, 0.1)).fit(2.0, 20181)
    probe = ["老师讲得很好，太棒了", "垃圾，气死了", "第3次", "好", "饭菜难吃"]
    expected = trainer._proba(fitted, [features(t) for t in probe])
    assert np.allclose(SentimentModel.load(first).scores(probe), expected, atol=1e-5)


def test_training_cross_validates_c_and_the_neutral_rule(
    tmp_path: Path, trainer: ModuleType
) -> None:
    _tiny_corpus(tmp_path)
    out = tmp_path / "cv.npz"
    args = ["--data", str(tmp_path), "--out", str(out), "--extra", "waimai_10k.csv=0.1"]
    assert trainer.main([*args, "--c-grid", "0.5,2"]) == 0
    model = SentimentModel.load(out)
    assert model.meta["c"] in (0.5, 2.0)
    assert 0.0 <= model.meta["cv_accuracy"] <= 1.0
    assert model.meta["extra"] == {"waimai_10k.csv": 0.1} and model.meta["extra_rows"] == 4
    assert model.neutral_band == (0.5, 0.5)
    level = model.meta["neutral_evidence"]
    assert model.neutral_evidence == level and level * 20 == pytest.approx(round(level * 20))


def test_neutral_evidence_level_keeps_to_its_share(trainer: ModuleType) -> None:
    evidence = np.linspace(0.0, 4.0, 1000)  # 1 % of the texts lie below 0.04
    p = np.full(1000, 0.7)
    labels = np.ones(1000, dtype=np.int64)
    assert trainer.neutral_evidence(p, evidence + 0.3, labels) == pytest.approx(0.3)
    assert trainer.neutral_evidence(p, evidence + 0.301, labels) == pytest.approx(0.3)
    assert trainer.neutral_evidence(p, evidence, labels) == 0.0  # no step of 0.05 fits


def test_training_writes_the_full_model_with_the_same_recipe(
    tmp_path: Path, trainer: ModuleType
) -> None:
    _tiny_corpus(tmp_path)
    part, full = tmp_path / "part.npz", tmp_path / "full.npz"
    args = ["--data", str(tmp_path), "--out", str(part), "--extra", "none", "--c-grid", "1,2"]
    assert trainer.main([*args, "--class-weight", "balanced", "--full-out", str(full)]) == 0
    gated, shipped = SentimentModel.load(part), SentimentModel.load(full)
    rows = trainer.load_rows(tmp_path / "weibo2018_train.csv")
    train, heldout = trainer.split(rows)
    assert heldout and gated.meta["train_rows"] == len(train) < len(rows)
    assert shipped.meta["train_rows"] == len(rows) and shipped.meta["heldout_trained"] is True
    assert shipped.meta["c"] == gated.meta["c"] and shipped.neutral_band == gated.neutral_band
    assert shipped.meta["class_weight"] == gated.meta["class_weight"] == "balanced"
    assert shipped.meta["extra"] == {} and gated.meta["heldout_trained"] is False
    # More texts: every feature of the 80 % model is still frequent enough to be kept.
    assert len(shipped._vocabulary) >= len(gated._vocabulary)


def test_training_refuses_bad_data(tmp_path: Path, trainer: ModuleType) -> None:
    (tmp_path / "weibo2018_train.csv").write_text("label,text\n2,好\n", encoding="utf-8")
    assert trainer.main(["--data", str(tmp_path), "--out", str(tmp_path / "m.npz")]) == 2
    assert (
        trainer.main(["--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "m.npz")]) == 2
    )
    _tiny_corpus(tmp_path)
    out = tmp_path / "m.npz"
    for spec in ["waimai_10k.csv", "waimai_10k.csv=2", "weibo2018_train.csv=0.5", "x.csv=0.1"]:
        assert trainer.main(["--data", str(tmp_path), "--out", str(out), "--extra", spec]) == 2
    bad_weight = ["--class-weight", "heavy"]
    with pytest.raises(SystemExit):  # argparse: exit status 2 and the choices
        trainer.main(["--data", str(tmp_path), "--out", str(out), *bad_weight])
    for grid in ["", "1,x", "0,1", "-2"]:
        assert trainer.main(["--data", str(tmp_path), "--out", str(out), "--c-grid", grid]) == 2
    assert not (tmp_path / "m.npz").exists()
