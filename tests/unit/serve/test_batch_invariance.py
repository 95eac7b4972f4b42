"""A text's scores must not depend on the batch it comes in: alone, with a few others (the
classifier's per-text path, up to 8 texts) or with many (its sparse-matrix path), at any
position, with other kinds beside it. Compared bit for bit, in process and over HTTP."""

import numpy as np
import pytest
from fastapi.testclient import TestClient

from qinglang.models.registry import ModelInfo
from qinglang.serve.http import create_app
from qinglang.serve.lifecycle import Lifecycle
from qinglang.serve.predictor import Predictor

TEXTS = [
    "顶流小A机场私服又火了",
    "明天全国大部分地区有雨",
    "你这个傻逼滚出去",
    "家里有矿晒豪车名表",
    "这个星座下周有大财运",
    "喝醋能治新冠，转发给家人",
    "某顶流明星机场私服曝光，粉丝连夜控评",
    "我不想活了",
    "今天的晚饭是红烧肉和米饭",
    "震惊！99%的人都不知道的秘密",
    "某某明星恋情曝光 热搜第一",
    "你就是个废物，垃圾",
    "豪宅名车，月入百万的生活",
    "股市今天涨了，大家怎么看",
    "转发这条锦鲤，下周必有好运",
    "顶流 小A 私服 同款 链接",
    "a",
    "哈",
]


@pytest.fixture(scope="module")
def predictor(demo_bundle):
    return Predictor(demo_bundle, ModelInfo("qinglang", "3", "demo0000", "models:/qinglang@candidate"))


def test_scores_are_the_same_alone_in_a_small_batch_and_in_a_large_one(predictor):
    alone = np.vstack([predictor.scores([t])[0] for t in TEXTS])
    small = np.vstack([predictor.scores(TEXTS[i : i + 5])[0] for i in range(0, len(TEXTS), 5)])
    large = predictor.scores(TEXTS)[0]
    reordered = predictor.scores(TEXTS[::-1] * 2)[0][: len(TEXTS)][::-1]
    for name, batch in (("small batches", small), ("one large batch", large), ("reordered", reordered)):
        differs = ~((alone == batch) | (np.isnan(alone) & np.isnan(batch)))
        assert not differs.any(), (
            f"{name}: {differs.sum()} scores differ from the text scored alone, "
            f"by up to {np.nanmax(np.abs(alone - batch)):.3g}"
        )


def test_scores_are_the_same_with_one_kind_for_all_or_a_kind_per_text(predictor):
    kinds = ["title", "post", "comment"]
    mixed = [kinds[i % 3] for i in range(len(TEXTS))]
    per_text = predictor.scores(TEXTS, kind=mixed)[0]
    for kind in kinds:
        rows = [i for i, k in enumerate(mixed) if k == kind]
        one = predictor.scores([TEXTS[i] for i in rows], kind=kind)[0]
        np.testing.assert_array_equal(per_text[rows], one)


def test_over_http_an_items_scores_do_not_depend_on_the_request(predictor):
    client = TestClient(create_app(predictor, lifecycle=Lifecycle()))

    def scores(texts: list[str]) -> list[dict]:
        r = client.post("/v1/moderate", json={"items": [{"id": str(i), "text": t} for i, t in enumerate(texts)]})
        assert r.status_code == 200, r.text
        return [item["scores"] for item in r.json()["items"]]

    together = scores(TEXTS)
    for text, batched in zip(TEXTS, together, strict=True):
        assert scores([text])[0] == batched, text  # exact floats, as JSON carries them
