"""Runner inputs: random values, as MetaSchedule's default, except integer tensors, which are
zero-filled. An integer input is an index (take/gather: bert's embedding lookup); random indices
read out of bounds, and on cuda under MPS that fault takes the MPS server down, after which every
measurement on the device fails (cudaErrorMpsServerNotReady). Zeros are valid indices."""

from __future__ import annotations

import numpy as np
import tvm
from tvm.s_tir.meta_schedule.utils import get_global_func_on_rpc_session, get_global_func_with_default_on_worker

RANDOM_FILL = "tvm.contrib.random.random_fill_for_measure"


def _alloc(f_random_fill, device, args_info, alloc_repeat: int) -> list[list]:
    out = []
    for _ in range(alloc_repeat):
        args = []
        for info in args_info:
            kind, dtype, shape = info
            if kind != "TENSOR":
                raise NotImplementedError(info)
            arg = tvm.runtime.empty(shape=shape, dtype=dtype, device=device)
            if str(dtype).startswith(("int", "uint", "bool")):
                arg.copyfrom(np.zeros([int(s) for s in shape], dtype=str(dtype)))
            else:
                f_random_fill(arg)
            args.append(arg)
        out.append(args)
    return out


def local(device, args_info, alloc_repeat: int) -> list[list]:
    """LocalRunner's f_alloc_argument."""
    return _alloc(get_global_func_with_default_on_worker(RANDOM_FILL, None), device, args_info, alloc_repeat)


def rpc(session, device, args_info, alloc_repeat: int) -> list[list]:
    """RPCRunner's f_alloc_argument (allocates on the server)."""
    fill = get_global_func_on_rpc_session(session, RANDOM_FILL, "the RPC server's TVM has no random fill")
    return _alloc(fill, device, args_info, alloc_repeat)
