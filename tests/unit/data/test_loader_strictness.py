"""A damaged row in any corpus is refused with its file, line and value (GitHub issue 19).

Before, a misspelled label or a line cut short in a corpus trained with exit 0: the row
became a negative for every category. Each reader here gets a tiny corpus in its native
format (mirroring the real files under ../shared/datasets), first read as is, then with
one line corrupted: an unknown label, a line cut short, a line with too many fields, an
id given to two different texts (where the corpus has ids) and a byte that is not valid in
the file's encoding. Rows are lines as an editor shows them, the header being line 1."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from qinglang.data.errors import DataError
from qinglang.data.loaders import load_trending_archive, read_native
from qinglang.data.loaders.hot_history import read_hot_history
from qinglang.data.loaders.lexicons import read_lexicon
from qinglang.data.loaders.tabular import iter_table, read_labeled_file


def _sid(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]


def _post(text: str) -> list[str]:
    """A CED post file as upstream writes it: one key per line."""
    return ["{", '"multi":null,', f'"text":{json.dumps(text, ensure_ascii=False)},', '"user":{"gender":"f"}', "}"]


def _harm(records: list[tuple[str, str]]) -> list[str]:
    return json.dumps([{"文本": t, "标签": lab} for t, lab in records], ensure_ascii=False, indent=1).split("\n")


def _w21(text: str, label: int, category: str = "社会生活") -> str:
    return json.dumps(
        {"content": text, "label": label, "category": category}, ensure_ascii=False, separators=(",", ":")
    )


TOXICN_HEADER = (
    "platform,topic,content,toxic,toxic_one_hot,toxic_type,toxic_type_one_hot,expression,expression_one_hot,target,"
    "length,num_attacked"
)
TOXICN_ROW = '{platform},race,{text},{toxic},"[1, 0]",0,"[1, 0, 0]",0,"[1, 0, 0, 0]","[0, 0, 0, 0, 0, 1]",9,0'
THUC_CLASSES = [
    "finance",
    "realty",
    "stocks",
    "education",
    "science",
    "society",
    "politics",
    "sports",
    "game",
    "entertainment",
]
WTL_HEADER = "id,text,first_seen,sample,labels"


def _wtl(text: str, labels: str, day: str = "2021-03-01", sample: str = "uniform") -> str:
    return f"{_sid(text)},{text},{day},{sample},{labels}"


# Per corpus: its folder, {file: (lines, encoding, line end)}; header (if any) is line 1.
CORPORA: dict[str, tuple[str, dict[str, tuple[list[str], str, str]]]] = {
    "cold": (
        "cold",
        {
            "train.csv": (
                [",split,topic,label,TEXT", "7089,train,race,1,外地人都滚出去", "1082,train,region,0,四川火锅真好吃"],
                "utf-8-sig",
                "\n",
            ),
            "dev.csv": ([",split,topic,label,TEXT", "1003,dev,region,0,大家都一样"], "utf-8-sig", "\n"),
            "test.csv": (
                [",split,topic,label,fine-grained-label,TEXT", "1949,test,race,0,3,不要歧视任何人"],
                "utf-8-sig",
                "\n",
            ),
        },
    ),
    "toxicn": (
        "toxicn",
        {
            "ToxiCN_1.0.csv": (
                [
                    TOXICN_HEADER,
                    TOXICN_ROW.format(platform="zhihu", text="就凭你的户口", toxic=0),
                    TOXICN_ROW.format(platform="tieba", text="抓虫大战人人有责", toxic=1),
                ],
                "utf-8-sig",
                "\n",
            )
        },
    ),
    "ced": (
        "ced",
        {
            "rumor-repost.txt": (["0_yBmepBtUB_2279086572.json", "1000_yFDQ0ffqy_2082357197.json"], "utf-8", "\n"),
            "non-rumor-repost.txt": (["1002_zne7v6NMq_2464670392.json"], "utf-8", "\n"),
            "original-microblog/0_yBmepBtUB_2279086572.json": (_post("网传某地今晚地震"), "utf-8", "\n"),
            "original-microblog/1000_yFDQ0ffqy_2082357197.json": (_post("吃这个能治百病"), "utf-8", "\n"),
            "original-microblog/1002_zne7v6NMq_2464670392.json": (_post("今天下午有雨"), "utf-8", "\n"),
        },
    ),
    "weibo21": (
        "weibo21",
        {
            "train.jsonl": ([_w21("三星折叠屏原型机曝光", 0, "科技")], "utf-8", "\n"),
            "val.jsonl": ([_w21("某明星去世了", 1, "文体娱乐"), _w21("高考分数线公布", 0, "教育考试")], "utf-8", "\n"),
            "test.jsonl": ([_w21("喝醋能软化血管", 1, "医药健康")], "utf-8", "\n"),
        },
    ),
    "chineseharm": (
        "chineseharm",
        {"train.json": (_harm([("代发短信无押金", "黑产广告"), ("今天吃什么", "不违规")]), "utf-8", "\n")},
    ),
    "sos4k": (
        "sos4k",
        {
            f"{prefix}_data_withExplainFewShot.tsv": (
                ["comment\tmyLabel\texplain", "反正还有一年\t8\t该用户表达了压力", '"加油"我会撑过去\t2\t积极']
                if prefix == "val"
                else ["comment\tmyLabel\texplain", "今天好累\t1\t疲惫"],
                "utf-8",
                "\r\n",
            )
            for prefix in ("train", "val", "test")
        },
    ),
    "cyberbullying_roles": (
        "cyberbullying_roles",
        {
            "Cyberbullying roles data_original.CSV": (
                [
                    "Case_category,Clean Text,Particiant Role",
                    "kj_sport,平权要的是权利平等,辩护者",
                    'kj_sport,"你们这种人,真该闭嘴",施暴者',
                    "lgj_social,大家冷静一点,调和者",
                ],
                "gb18030",
                "\r\n",
            )
        },
    ),
    "thucnews_titles": (
        "thucnews_titles",
        {
            "class.txt": (THUC_CLASSES, "utf-8", "\n"),
            "dev.txt": (["同步A股首秀：港股缩量回调\t2", "60年铁树开花形状似玉米芯\t5"], "utf-8", "\n"),
            "test.txt": (["体验2D巅峰 倚天屠龙记十大创新概览\t8", "詹姆斯砍下40分\t7"], "utf-8", "\n"),
        },
    ),
    "weibo_trending_labeled": (
        "weibo_trending_labeled",
        {
            "train.csv": (
                [
                    WTL_HEADER,
                    _wtl("一下雪中国就穿越了时空", "trivial"),
                    _wtl("某明星机场私服", "celebrity_hype"),
                    _wtl("广州晚霞", ""),
                ],
                "utf-8",
                "\r\n",
            ),
            "dev.csv": ([WTL_HEADER, _wtl("中国排面雨中依旧眼神坚定", "", "2024-07-03")], "utf-8", "\r\n"),
        },
    ),
}


def write_corpus(root: Path, name: str, corrupt: tuple[str, int, str | bytes] | None = None) -> Path:
    """The tiny corpus `name` under `root`; `corrupt` = (file, line, new line) replaces one line."""
    folder, files = CORPORA[name]
    for rel, (lines, encoding, end) in files.items():
        codec = "utf-8" if encoding == "utf-8-sig" else encoding
        encoded = [line.encode(codec) for line in lines]
        if corrupt and corrupt[0] == rel:
            _, line, new = corrupt
            encoded[line - 1] = new if isinstance(new, bytes) else new.encode(codec)
        path = root / folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        bom = b"\xef\xbb\xbf" if encoding == "utf-8-sig" else b""
        path.write_bytes(bom + end.encode().join(encoded) + end.encode())
    return root


def refused(match: tuple[str, int, str], call) -> DataError:
    """The DataError `call` raises, checked to name the file, the row and the value."""
    file, row, value = match
    with pytest.raises(DataError) as caught:
        call()
    message = str(caught.value)
    assert file in message, message
    assert re.search(rf"\brow {row}\b", message), message
    assert value in message, message
    return caught.value


def test_every_tiny_corpus_reads_when_intact(tmp_path):
    expected = {
        "cold": 4,
        "toxicn": 2,
        "ced": 3,
        "weibo21": 4,
        "chineseharm": 2,
        "sos4k": 4,
        "cyberbullying_roles": 3,
        "thucnews_titles": 4,
        "weibo_trending_labeled": 4,
    }
    for name, rows in expected.items():
        root = write_corpus(tmp_path / name, name)
        native = read_native(name, root)
        assert len(native.frame) == rows, name
        assert not native.dropped, name
    sos = read_native("sos4k", tmp_path / "sos4k").frame
    assert '"加油"我会撑过去' in set(sos["text"])  # quotes are text in SOS-4K's TSV


# (corpus, file corrupted, line, new line, expected row, value the message must quote)
UNKNOWN_LABEL = [
    ("cold", "train.csv", 3, "1082,train,region,2,四川火锅真好吃", 3, "'2'"),
    ("cold", "dev.csv", 2, "1003,dev,region,,大家都一样", 2, "missing label in column 'label'"),
    ("toxicn", "ToxiCN_1.0.csv", 3, TOXICN_ROW.format(platform="tieba", text="抓虫", toxic="yes"), 3, "'yes'"),
    ("ced", "rumor-repost.txt", 2, "celebrity-hype", 2, "'celebrity-hype'"),
    ("weibo21", "val.jsonl", 2, _w21("高考分数线公布", 2), 2, "'2'"),
    ("chineseharm", "train.json", 8, '  "标签": "赌博"', 6, "'赌博'"),
    ("sos4k", "val_data_withExplainFewShot.tsv", 3, "加油\t11\t积极", 3, "'11'"),
    ("cyberbullying_roles", "Cyberbullying roles data_original.CSV", 4, "lgj_social,冷静,路人", 4, "'路人'"),
    ("cyberbullying_roles", "Cyberbullying roles data_original.CSV", 4, "lgj_social,冷静,", 4, "missing label"),
    ("thucnews_titles", "test.txt", 2, "詹姆斯砍下40分\t12", 2, "'12'"),
    ("thucnews_titles", "class.txt", 8, "sport", 8, "'sport'"),
    ("weibo_trending_labeled", "train.csv", 3, _wtl("某明星机场私服", "celebrity-hype"), 3, "'celebrity-hype'"),
    ("weibo_trending_labeled", "dev.csv", 2, _wtl("中国排面雨中依旧眼神坚定", "trivial;yes"), 2, "'yes'"),
]


@pytest.mark.parametrize("name, file, line, new, row, value", UNKNOWN_LABEL, ids=lambda v: str(v)[:20])
def test_an_unknown_or_missing_label_is_refused(tmp_path, name, file, line, new, row, value):
    root = write_corpus(tmp_path, name, (file, line, new))
    refused((Path(file).name, row, value), lambda: read_native(name, root))


def test_the_message_lists_the_labels_and_the_closest_one(tmp_path):
    root = write_corpus(tmp_path, "weibo_trending_labeled", ("train.csv", 3, _wtl("某明星机场私服", "celebrity-hype")))
    error = refused(
        ("weibo_trending_labeled", 3, "'celebrity-hype'"), lambda: read_native("weibo_trending_labeled", root)
    )
    assert "in column 'labels'; labels are celebrity_hype, trivial," in str(error)
    assert "did you mean 'celebrity_hype'?" in str(error)


def test_an_empty_labels_cell_still_means_no_category(tmp_path, taxonomy):
    from qinglang.data.dataset import to_canonical

    rows = to_canonical(
        read_native("weibo_trending_labeled", write_corpus(tmp_path, "weibo_trending_labeled")), taxonomy
    )
    normal = rows[rows["text"] == "广州晚霞"]
    assert (normal[taxonomy.keys] == 0).all(axis=None)


SHORT_LINE = [
    ("cold", "train.csv", 3, "1082,train,region,0", 3, "'1082,train,region,0'"),
    ("toxicn", "ToxiCN_1.0.csv", 2, "zhihu,region,就凭你的户口,0", 2, "'zhihu,region,就凭你的户口,0'"),
    ("ced", "non-rumor-repost.txt", 1, "1002_zne7v6", 1, "'1002_zne7v6'"),
    ("weibo21", "val.jsonl", 2, '{"content":"高考分数线公布","lab', 2, '高考分数线公布","lab'),
    ("chineseharm", "train.json", 8, '  "标签": "不违', 8, '"标签": "不违'),
    ("sos4k", "val_data_withExplainFewShot.tsv", 3, "加油\t2", 3, "'加油\\t2'"),
    (
        "cyberbullying_roles",
        "Cyberbullying roles data_original.CSV",
        2,
        "kj_sport,平权要的是",
        2,
        "'kj_sport,平权要的是'",
    ),
    ("thucnews_titles", "dev.txt", 2, "60年铁树开花形状似玉米芯", 2, "'60年铁树开花形状似玉米芯'"),
    (
        "weibo_trending_labeled",
        "train.csv",
        3,
        f"{_sid('某明星机场私服')},某明星机场私服,2021-03-01",
        3,
        "某明星机场私服",
    ),
]


@pytest.mark.parametrize("name, file, line, new, row, value", SHORT_LINE, ids=lambda v: str(v)[:20])
def test_a_line_cut_short_is_refused(tmp_path, name, file, line, new, row, value):
    root = write_corpus(tmp_path, name, (file, line, new))
    refused((Path(file).name, row, value), lambda: read_native(name, root))


LONG_LINE = [
    ("cold", "train.csv", 2, "7089,train,race,1,外地人都滚出去,多余", 2, "'多余'"),
    ("toxicn", "ToxiCN_1.0.csv", 3, TOXICN_ROW.format(platform="tieba", text="抓虫", toxic=1) + ",多余", 3, "'多余'"),
    ("ced", "rumor-repost.txt", 1, "0_yBmepBtUB_2279086572.json,rumor", 1, "'0_yBmepBtUB_2279086572.json,rumor'"),
    ("weibo21", "val.jsonl", 1, _w21("某明星去世了", 1) + _w21("又一条", 0), 1, "又一条"),
    ("chineseharm", "train.json", 10, "] []", 10, "'[]'"),
    ("sos4k", "train_data_withExplainFewShot.tsv", 2, "今天好累\t1\t疲惫\t多余", 2, "'多余'"),
    ("cyberbullying_roles", "Cyberbullying roles data_original.CSV", 4, "lgj_social,冷静,调和者,多余", 4, "'多余'"),
    ("thucnews_titles", "test.txt", 1, "体验2D巅峰\t8\t9", 1, "'体验2D巅峰\\t8\\t9'"),
    ("weibo_trending_labeled", "dev.csv", 2, _wtl("中国排面", "", "2024-07-03") + ",多余", 2, "'多余'"),
]


@pytest.mark.parametrize("name, file, line, new, row, value", LONG_LINE, ids=lambda v: str(v)[:20])
def test_a_line_with_too_many_fields_is_refused(tmp_path, name, file, line, new, row, value):
    root = write_corpus(tmp_path, name, (file, line, new))
    refused((Path(file).name, row, value), lambda: read_native(name, root))


def test_a_weibo_trending_id_given_to_two_texts_is_refused_naming_both_rows(tmp_path):
    stolen = _sid("一下雪中国就穿越了时空")
    dev_row = f"{stolen},另一个标题,2024-07-03,uniform,"
    root = write_corpus(tmp_path, "weibo_trending_labeled", ("dev.csv", 2, dev_row))
    error = refused(("dev.csv", 2, f"'{stolen}'"), lambda: read_native("weibo_trending_labeled", root))
    assert re.search(r"train\.csv, row 2\b", str(error)) and "另一个标题" in str(error)


def test_the_same_id_and_text_twice_is_not_a_conflict(tmp_path):
    root = write_corpus(tmp_path, "weibo_trending_labeled", ("dev.csv", 2, _wtl("广州晚霞", "")))
    assert len(read_native("weibo_trending_labeled", root).frame) == 4


def test_a_ced_post_id_given_to_two_texts_is_refused_naming_both(tmp_path):
    root = write_corpus(tmp_path, "ced")
    twin = "7_yBmepBtUB_1.json"  # post id yBmepBtUB, as 0_yBmepBtUB_2279086572.json
    (root / "ced" / "original-microblog" / twin).write_text("\n".join(_post("完全不同的一条微博")), "utf-8")
    with (root / "ced" / "non-rumor-repost.txt").open("a", encoding="utf-8") as fh:
        fh.write(twin + "\n")
    error = refused(("non-rumor-repost.txt", 2, "'yBmepBtUB'"), lambda: read_native("ced", root))
    assert re.search(r"rumor-repost\.txt, row 1\b", str(error)) and "完全不同的一条微博" in str(error)


def test_a_ced_post_without_text_is_refused(tmp_path):
    root = write_corpus(tmp_path, "ced", ("original-microblog/1002_zne7v6NMq_2464670392.json", 3, '"txt":"x",'))
    refused_file = "1002_zne7v6NMq_2464670392.json"
    with pytest.raises(DataError, match=rf"{refused_file}: missing key 'text'"):
        read_native("ced", root)


# A byte that is not valid in the file's encoding (0xFF is neither UTF-8 nor GB18030).
BAD_BYTES = [
    ("cold", "dev.csv", 2, "1003,dev,region,0,大家".encode() + b"\xff" + "都一样".encode(), 2),
    ("toxicn", "ToxiCN_1.0.csv", 3, TOXICN_ROW.format(platform="tieba", text="抓\xff虫", toxic=1), 3),
    ("ced", "original-microblog/1000_yFDQ0ffqy_2082357197.json", 3, '"text":"吃这个\xff",', 3),
    ("ced", "rumor-repost.txt", 2, b"1000_yFDQ0ffqy_\xff.json", 2),
    ("weibo21", "test.jsonl", 1, _w21("喝醋\xff", 1), 1),
    ("chineseharm", "train.json", 7, '  "文本": "今天\xff吃什么",', 7),
    ("sos4k", "test_data_withExplainFewShot.tsv", 2, "今天\xff好累\t1\t疲惫", 2),
    ("cyberbullying_roles", "Cyberbullying roles data_original.CSV", 3, "kj_sport,你们\xff,施暴者", 3),
    ("thucnews_titles", "dev.txt", 1, "同步A股首秀\xff\t2", 1),
    ("weibo_trending_labeled", "train.csv", 4, _wtl("广州\xff晚霞", ""), 4),
]


@pytest.mark.parametrize("name, file, line, new, row", BAD_BYTES, ids=lambda v: str(v)[:20])
def test_a_byte_the_encoding_cannot_read_is_refused_with_its_line(tmp_path, name, file, line, new, row):
    if isinstance(new, str):  # \xff stands for the raw byte, the rest is text in the file's encoding
        encoding = CORPORA[name][1][file][1]
        codec = "utf-8" if encoding == "utf-8-sig" else encoding
        new = b"\xff".join(part.encode(codec) for part in new.split("\xff"))
    root = write_corpus(tmp_path, name, (file, line, new))
    error = refused((Path(file).name, row, "b'\\xff'"), lambda: read_native(name, root))
    assert "position" not in str(error)  # a line, not a byte offset


# --- the readers outside the registry: hot-search history, lexicons, archive, user files ---

HOT_HEADER = "day,title,category,description,hot,read_count,discuss_count,origin_count,ads,band_rank"
HOT_ROWS = [
    HOT_HEADER,
    "2024-05-20,以色列总理被申请逮捕令,社会,新华社快讯,1865009,,,,0,1",
    '2024-05-20,黄俊捷不参演赴山海,电视剧,"黄俊捷不参演\n《赴山海》",1176114,,,,0,2',  # a description on two lines
    "2024-05-21,广州晚霞,,,90000,,,,0,3",
]


def _hot(root: Path, rows: list[str | bytes]) -> Path:
    folder = root / "weibo_hot_history"
    folder.mkdir(parents=True, exist_ok=True)
    data = b"\r\n".join(r if isinstance(r, bytes) else r.encode() for r in rows) + b"\r\n"
    (folder / "weibo_hot_history_2024.csv").write_bytes(data)
    return root


def test_hot_history_reads_and_names_the_line_after_a_record_on_two_lines(tmp_path):
    assert len(read_hot_history(_hot(tmp_path / "ok", HOT_ROWS))) == 3
    # The bad day is on line 5 of the file: the record before it spans lines 3 and 4.
    root = _hot(tmp_path / "bad", [*HOT_ROWS[:3], "tomorrow,广州晚霞,,,90000,,,,0,3"])
    refused(("weibo_hot_history_2024.csv", 5, "'tomorrow'"), lambda: read_hot_history(root))


@pytest.mark.parametrize(
    "row, value",
    [
        ("2024-05-21,广州晚霞,,,90000", "'2024-05-21,广州晚霞,,,90000'"),
        ("2024-05-21,广州晚霞,,,90000,,,,0,3,多余", "'多余'"),
        ("2024-05-21,广州".encode() + b"\xff" + b",,,90000,,,,0,3", "b'\\xff'"),
    ],
    ids=["short", "long", "bad-bytes"],
)
def test_hot_history_refuses_a_damaged_line(tmp_path, row, value):
    root = _hot(tmp_path, [*HOT_ROWS[:3], row])
    refused(("weibo_hot_history_2024.csv", 5, value), lambda: read_hot_history(root))


def test_a_lexicon_line_that_is_not_utf8_is_refused_with_its_line(tmp_path):
    folder = tmp_path / "lexicons" / "sensitive-lexicon" / "Vocabulary"
    folder.mkdir(parents=True)
    (folder / "色情类型.txt").write_bytes("一\n二\n".encode() + b"\xff\xfe\n")
    refused(("色情类型.txt", 3, "b'\\xff"), lambda: read_lexicon("sensitive_lexicon", ["色情类型.txt"], tmp_path))
    insults = tmp_path / "toxicn" / "lexicon"
    insults.mkdir(parents=True)
    (insults / "general.json").write_text('{\n"傻": [1],\n"笨" [2]\n}', "utf-8")
    refused(("general.json", 3, "'\"笨\" [2]'"), lambda: read_lexicon("toxicn_insults", ["general.json"], tmp_path))


def test_an_archive_day_that_is_not_utf8_is_skipped_naming_its_line(tmp_path):
    (tmp_path / "2024-06-01.json").write_text('[{"url": "x", "title": "广州晚霞"}]', "utf-8")
    (tmp_path / "2024-06-02.json").write_bytes('[\n{"url": "x", "title": "坏'.encode() + b"\xff" + b'"}\n]')
    archive = load_trending_archive(tmp_path)
    assert len(archive.entries) == 1 and len(archive.problems) == 1
    problem = archive.problems[0]
    assert "2024-06-02.json, row 2: skipped" in problem and "b'\\xff'" in problem and "position" not in problem


@pytest.mark.parametrize(
    "line, value",
    [("挺好的,0", "'挺好的,0'"), ("挺好的,0,1,1", "'1'"), ("挺好".encode() + b"\xff" + b",0,", "b'\\xff'")],
    ids=["short", "long", "bad-bytes"],
)
def test_a_labeled_user_csv_refuses_a_damaged_line(tmp_path, taxonomy, line, value):
    path = tmp_path / "mine.csv"
    path.write_bytes(
        b"text,online_violence,trivial\n"
        + "你好,1,0\n".encode()
        + (line if isinstance(line, bytes) else line.encode())
        + b"\n"
    )
    refused(("mine.csv", 3, value), lambda: read_labeled_file(path, taxonomy))
    refused(("mine.csv", 3, value), lambda: list(iter_table(path, 10)))


def test_a_labeled_user_jsonl_that_is_not_utf8_names_its_line(tmp_path, taxonomy):
    path = tmp_path / "mine.jsonl"
    path.write_bytes('{"text": "你好", "trivial": 0}\n{"text": "坏'.encode() + b"\xff" + b'", "trivial": 1}\n')
    refused(("mine.jsonl", 2, "b'\\xff'"), lambda: read_labeled_file(path, taxonomy))
