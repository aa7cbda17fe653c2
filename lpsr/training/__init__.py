"""Training: the loop (`train`) and the run folders it writes (`runs`)."""
