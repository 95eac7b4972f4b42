from qinglang.cli.app import app

app(prog_name="qinglang")
