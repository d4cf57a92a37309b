"""Sub-commands of the `yuqing` CLI, one module per noun."""
