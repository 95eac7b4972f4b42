import pickle

import joblib
import pytest

from qinglang.data.errors import DataError
from qinglang.features.tokenizer import JiebaTokenizer, read_user_dict


def test_segments_and_drops_punctuation():
    tokens = JiebaTokenizer()("我爱北京天安门，真的！")
    assert "北京" in tokens and "天安门" in tokens
    assert "，" not in tokens and "！" not in tokens


def test_pickles_and_segments_identically_after_reload(tmp_path):
    tk = JiebaTokenizer(user_words=[("顶流小A", 1000, None)])
    text = "顶流小A机场私服曝光"
    clone = pickle.loads(pickle.dumps(tk))
    assert clone == tk and clone(text) == tk(text)
    joblib.dump(tk, tmp_path / "tk.joblib")
    assert joblib.load(tmp_path / "tk.joblib")(text) == tk(text)


def test_user_dictionary_changes_segmentation(tmp_path):
    text = "栓Q了家人们"
    plain = JiebaTokenizer()(text)
    path = tmp_path / "user.dict"
    path.write_text("家人们 2000 n\n\n", "utf-8")
    custom = JiebaTokenizer.from_user_dict(path)
    assert "家人们" in custom(text)
    assert "家人们" not in plain
    assert custom.user_words == (("家人们", 2000, "n"),)


def test_one_jieba_instance_per_process_per_dictionary():
    a, b = JiebaTokenizer(), pickle.loads(pickle.dumps(JiebaTokenizer()))
    assert a._jieba() is b._jieba()


def test_bad_user_dictionary_is_reported(tmp_path):
    with pytest.raises(DataError, match="not found"):
        read_user_dict(tmp_path / "missing.dict")
    bad = tmp_path / "bad.dict"
    bad.write_text("词 abc\n", "utf-8")
    with pytest.raises(DataError, match="row 1"):
        read_user_dict(bad)


def test_jiebas_cache_is_private_by_default(tmp_path, monkeypatch):
    """Issue 19: not the world-writable temp dir, where another user could plant a cache."""
    import stat
    import tempfile

    from qinglang.features.tokenizer import jieba_cache_dir

    monkeypatch.delenv("QINGLANG_JIEBA_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    folder = jieba_cache_dir()
    assert folder == str(tmp_path / "cache" / "qinglang") and folder != tempfile.gettempdir()
    assert stat.S_IMODE((tmp_path / "cache" / "qinglang").stat().st_mode) == 0o700
    monkeypatch.setenv("QINGLANG_JIEBA_CACHE_DIR", str(tmp_path / "mine"))
    assert jieba_cache_dir() == str(tmp_path / "mine")
