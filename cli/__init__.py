"""The `qinglang` command: one small module per command group, each a thin layer over the
package that owns the job (training, batch, trending, serve, data)."""
