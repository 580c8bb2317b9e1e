"""Write the GGUF file with gguf-py's ``GGUFWriter``, one tensor at a time.

The header, metadata and tensor table are written first (sizes are known
from shapes), then each tensor is converted, quantized with gguf-py's own
quantizers (``gguf.quants.quantize``) and appended, so memory holds one
tensor at a time and a cancel is honoured between tensors.

Types: 1-D tensors (norms, biases, rope factors) are always F32, as llama.cpp
writes them. 2-D weights are F16, BF16, Q8_0 or Q4_0 by the chosen type;
in a q4_0 file the token embedding and output matrix are Q8_0 (llama.cpp's
quantizer also keeps them at higher precision: they matter most). A row
whose length is not a multiple of the 32-value block falls back to F16.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from core.runtime.targets import GGUF_WRITTEN_BY
from core.shipping.gguf import arch
from core.shipping.gguf.vocab import Vocab, add_to_writer

if TYPE_CHECKING:  # for annotations only
    import numpy as np

# Imported where used, not at module level (import cost, 2 cores): mlx (runs on the worker), gguf ~0.7 s, numpy ~0.3 s


def _qtype(gguf_type: str):
    import gguf

    Q = gguf.GGMLQuantizationType
    return {"f16": Q.F16, "bf16": Q.BF16, "q8_0": Q.Q8_0, "q4_0": Q.Q4_0}[gguf_type]


def file_type(gguf_type: str):
    import gguf

    F = gguf.LlamaFileType
    return {"f16": F.MOSTLY_F16, "bf16": F.MOSTLY_BF16, "q8_0": F.MOSTLY_Q8_0, "q4_0": F.MOSTLY_Q4_0}[gguf_type]


def tensor_type(name: str, shape: tuple[int, ...], gguf_type: str):
    """The GGML type of one tensor in a file of ``gguf_type``."""
    import gguf

    Q = gguf.GGMLQuantizationType
    if len(shape) < 2:
        return Q.F32
    want = _qtype(gguf_type)
    if want == Q.Q4_0 and name in ("token_embd.weight", "output.weight"):
        want = Q.Q8_0
    block, _ = gguf.GGML_QUANT_SIZES[want]
    return want if shape[-1] % block == 0 else Q.F16


@dataclass
class Written:
    name: str
    shape: tuple[int, ...]  # numpy order (rows first)
    qtype: int


def source_array(plan: arch.TensorPlan, params: dict) -> np.ndarray:
    """The float32 values a tensor is written from (transformed as llama.cpp needs)."""
    import mlx.core as mx
    import numpy as np

    if plan.generate is not None:
        return plan.generate()
    value = params[plan.source].astype(mx.float32)
    mx.eval(value)
    data = np.array(value, copy=False)
    return plan.transform(data) if plan.transform else data


def _encode(data: np.ndarray, qtype) -> np.ndarray:
    import gguf
    import numpy as np

    return gguf.quants.quantize(data.astype(np.float32, copy=False), qtype)


def write(
    ctx, path: Path, config: dict, params: dict, plans: list[arch.TensorPlan], vocab: Vocab, gguf_type: str, name: str
) -> list[Written]:
    """Write the whole file to ``path`` (a temp file; the caller renames it)."""
    import gguf
    import numpy as np

    n_layers = config["num_hidden_layers"]
    writer = gguf.GGUFWriter(path, arch.ARCHITECTURES[config["model_type"]])
    try:
        writer.add_name(name)
        writer.add_string(GGUF_WRITTEN_BY, "TuneDeck")  # marks it ours (core.runtime.targets)
        arch.add_hparams(writer, config, n_layers)
        writer.add_file_type(file_type(gguf_type))
        writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
        add_to_writer(writer, vocab)
        written = []
        for plan in plans:
            shape = tuple(params[plan.source].shape) if plan.source else tuple(plan.generate().shape)
            qtype = tensor_type(plan.name, shape, gguf_type)
            byte_shape = gguf.quant_shape_to_byte_shape(shape, qtype)
            nbytes = int(np.prod(byte_shape))
            if qtype in (gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16):
                dtype = np.float32 if qtype == gguf.GGMLQuantizationType.F32 else np.float16
                writer.add_tensor_info(plan.name, shape, np.dtype(dtype), nbytes)
            else:
                writer.add_tensor_info(plan.name, byte_shape, np.dtype(np.uint8), nbytes, raw_dtype=qtype)
            written.append(Written(plan.name, shape, int(qtype)))
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        for i, (plan, record) in enumerate(zip(plans, written)):
            ctx.check_cancelled()
            ctx.progress(f"writing {gguf_type} tensors", i, len(plans))
            writer.write_tensor_data(_encode(source_array(plan, params), record.qtype))
        ctx.progress(f"writing {gguf_type} tensors", len(plans), len(plans))
        return written
    finally:
        writer.close()
