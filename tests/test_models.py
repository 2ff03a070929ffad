import pytest
import torch

from pipeline.models.attention import BahdanauAttention, LuongAttention
from tests.helpers import padded_batch, tiny_model

ATTENTIONS = ["bahdanau", "luong_dot", "luong_general"]


@pytest.mark.parametrize(
    ("attention", "query_size"),
    [
        (BahdanauAttention(8, 6, 5), 8),
        (LuongAttention(6, 6, general=False), 6),
        (LuongAttention(8, 6, general=True), 8),
    ],
)
def test_attention_masks_hide_padding(attention, query_size):
    torch.manual_seed(0)
    memory = torch.randn(2, 5, 6)
    mask = torch.tensor([[True] * 5, [True, True, True, False, False]])
    query = torch.randn(2, 3, query_size)
    context, weights = attention(query, attention.project_keys(memory), memory, mask)
    assert torch.all(weights[1, :, 3:] == 0)
    assert torch.allclose(weights.sum(-1), torch.ones(2, 3))
    garbage = memory.clone()
    garbage[1, 3:] = 1e4  # whatever sits in padded positions must not leak into the context
    context2, _ = attention(query, attention.project_keys(garbage), garbage, mask)
    assert torch.allclose(context[1], context2[1], atol=1e-6)


def test_encoder_output_does_not_depend_on_padding_or_batch_mates():
    model = tiny_model().eval()
    src, lengths = padded_batch([7, 3, 5])
    enc = model.encode(src=src, src_lengths=lengths)
    alone = model.encode(src=src[1:2, :3], src_lengths=lengths[1:2])
    assert torch.allclose(enc.memory[1, :3], alone.memory[0], atol=1e-6)
    assert torch.allclose(enc.summary[1], alone.summary[0], atol=1e-6)
    assert enc.mask.tolist()[1] == [True] * 3 + [False] * 4


@pytest.mark.parametrize("attention", [*ATTENTIONS, "none"])
@pytest.mark.parametrize("input_feeding", [False, True])
def test_teacher_forcing_equals_a_loop_over_the_shared_step(attention, input_feeding):
    model = tiny_model(attention, input_feeding).eval()
    src, lengths = padded_batch([6, 2, 4])
    enc = model.encode(src=src, src_lengths=lengths)
    tgt_in = torch.randint(4, 25, (3, 5))
    full = model.decoder(tgt_in, enc)
    state, logits = model.decoder.init_state(enc), []
    for t in range(tgt_in.size(1)):
        out = model.decoder.step(tgt_in[:, t], state, enc)
        state = out.state
        logits.append(out.logits)
    assert torch.allclose(full.logits, torch.stack(logits, 1), atol=1e-5)
    assert full.logits.shape == (3, 5, 25)


def test_tied_embeddings_share_one_tensor():
    model = tiny_model()
    assert model.decoder.output.weight.data_ptr() == model.decoder.embed.weight.data_ptr()


@pytest.mark.parametrize("input_feeding", [False, True])
def test_selected_positions_get_the_same_logits(input_feeding):
    model = tiny_model("luong_general", input_feeding, seed=11).eval()
    src, lengths = padded_batch([5, 3], seed=12)
    tgt_in = torch.tensor([[2, 5, 6, 7], [2, 8, 0, 0]])
    select = tgt_in != 0
    full = model(tgt_in, src=src, src_lengths=lengths).logits  # (B, T, V)
    part = model(tgt_in, select, src=src, src_lengths=lengths).logits  # (N, V)
    assert part.shape == (int(select.sum()), full.size(-1))
    assert torch.allclose(part, full[select], atol=1e-6)
