"""Paraphrase probes: do short trending-style titles that say the same thing in other words
get the category the guideline gives them? Issue 17 found 算命/犯太岁/风水 titles scored
superstition <= 0.11 and 耍大牌 gossip celebrity_hype 0.08.

The probes below are written for this check (illustrative, not from any dataset); each
group has titles that should get the category and, where the guideline names a look-alike
it does not cover ("it is NOT"), titles that should not. Scored as titles. Prints per probe
the probability and whether `review` / `balanced` flag it, and per group the mean
probability, the share flagged and the worst probe. A measurement, not a test: the probes
are few and hand-written, so read them as a CheckList for one failure the issue names.

    .venv/bin/python benchmarks/paraphrase_probes.py --model runs/latest/bundle [--json out.json]
"""

from __future__ import annotations

from _common import parser, print_markdown_table, write_json

from qinglang.data.taxonomy import TITLE
from qinglang.models.registry import load_bundle

# (group, category, should it apply, titles)
PROBES: list[tuple[str, str, bool, list[str]]] = [
    (
        "fortune telling, feng shui, luck rituals",
        "superstition",
        True,
        [
            "2025年犯太岁的四大生肖",
            "算命先生说我今年有血光之灾",
            "风水大师教你客厅这样摆能招财",
            "本命年犯太岁怎么化解",
            "水逆期间千万别做这几件事",
            "找大师算命改运花了两万",
            "床头朝这个方向睡能旺财运",
            "八字不合真的不能结婚吗",
            "佩戴这种手串可以挡灾转运",
            "属虎的人下半年有大财运",
        ],
    ),
    (
        "horoscopes by sign name",
        "superstition",
        True,
        [
            "双子座下周运势",
            "天蝎座今年财运爆棚",
            "处女座最近会有好事发生",
            "金牛座本月桃花运旺盛",
            "射手座的幸运色是什么",
            "水瓶座为什么总是很孤独",
            "狮子座注定是要当老板的",
            "巨蟹座下半年要小心破财",
        ],
    ),
    (
        "festivals, customs, astronomy",
        "superstition",
        False,
        [
            "端午节赛龙舟的由来",
            "春节贴春联的习俗",
            "中秋节各地的传统习俗",
            "故宫的建筑布局有什么讲究",
            "天文台解读本周流星雨",
            "天文爱好者拍到猎户座星云",
            "北斗卫星星座组网完成",
        ],
    ),
    (
        "gossip in other words",
        "celebrity_hype",
        True,
        [
            "某顶流被曝片场耍大牌",
            "女星耍大牌让工作人员撑伞",
            "男团成员疑似恋情曝光",
            "两位演员同框引热议",
            "顶流机场私服被扒",
            "女明星素颜出街被拍",
            "歌手演唱会后台发脾气",
            "网红直播间哭诉被前任劈腿",
            "爱豆生日应援排面",
            "影帝影后疑似复合",
        ],
    ),
    (
        "sport and news",
        "celebrity_hype",
        False,
        [
            "国乒男团夺得世界杯冠军",
            "市政府召开新闻发布会",
            "台风登陆广东沿海",
            "全国高考成绩陆续公布",
            "央行宣布下调存款准备金率",
        ],
    ),
]


PROFILES = ("review", "balanced")


def main() -> None:
    args = parser(__doc__).parse_args()
    bundle = load_bundle(args.model)
    clf, keys = bundle.classifier, bundle.taxonomy.keys
    titles = [t for *_, group_titles in PROBES for t in group_titles]
    proba = clf.predict_proba(titles, TITLE)
    flags = {p: clf.flags(proba, p, TITLE) for p in PROFILES if p in clf.profiles_}
    out, start = [], 0
    for group, key, applies, group_titles in PROBES:
        rows, j = slice(start, start + len(group_titles)), keys.index(key)
        start = rows.stop
        probs = proba[rows, j].tolist()
        flagged = {p: f[rows, j] for p, f in flags.items()}
        print_markdown_table(
            f"{key}, {group}: {'should apply' if applies else 'should NOT apply'}",
            ["title", "p", *flagged],
            [
                [t, f"{v:.2f}", *("x" if f[i] else "" for f in flagged.values())]
                for i, (t, v) in enumerate(zip(group_titles, probs, strict=True))
            ],
        )
        shares = {p: float(f.mean()) for p, f in flagged.items()}
        worst = min(probs) if applies else max(probs)
        print(
            f"mean p {sum(probs) / len(probs):.2f}, worst {worst:.2f}; flagged: "
            + ", ".join(f"{p} {n:.0%}" for p, n in shares.items())
        )
        out.append(
            {"group": group, "category": key, "applies": applies, "titles": group_titles, "p": probs, "flagged": shares}
        )
    write_json(args.json, {"probes": out})


if __name__ == "__main__":
    main()
