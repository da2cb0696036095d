import numpy as np
import pytest

keras = pytest.importorskip("keras")

from liverlib.losses import DiceCELoss, DiceScore, make_losses, make_metrics  # noqa: E402
from liverlib.model import build_unet, model_flops, training_memory_bytes  # noqa: E402


def _onehot(labels):
    return np.eye(3, dtype=np.float32)[labels]


def test_unet_outputs_and_config():
    net = build_unet(32, 2, depth=3, base_filters=4)
    out = net(np.zeros((2, 32, 32, 2), np.float32), training=False)
    seg = keras.ops.convert_to_numpy(out["seg"])
    cancer = keras.ops.convert_to_numpy(out["cancer"])
    assert seg.shape == (2, 32, 32, 3) and cancer.shape == (2, 1)
    np.testing.assert_allclose(seg.sum(-1), 1.0, atol=1e-5)
    assert np.all((cancer > 0) & (cancer < 1))
    # depth sets the bottleneck: 32 / 2**3 = 4, with base * 2**3 filters
    assert net.get_layer("bottleneck_conv2").output.shape[1:] == (4, 4, 32)
    assert any(isinstance(layer, keras.layers.BatchNormalization) for layer in net.layers)
    assert any(isinstance(layer, keras.layers.Dropout) for layer in net.layers)
    with pytest.raises(ValueError, match="divisible"):
        build_unet(36, 1, depth=3)


def test_heads_float32_under_mixed_precision():
    previous = keras.config.dtype_policy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        net = build_unet(16, 1, depth=2, base_filters=4)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    assert net.get_layer("enc0_conv1").compute_dtype == "float16"
    assert net.output["seg"].dtype == "float32" and net.output["cancer"].dtype == "float32"


def test_save_and_load_safe_mode(tmp_path):
    net = build_unet(16, 1, depth=2, base_filters=4)
    loss, weights = make_losses()
    net.compile(optimizer="adam", loss=loss, loss_weights=weights, metrics=make_metrics())
    x = np.random.default_rng(0).random((2, 16, 16, 1)).astype(np.float32)
    net.fit(x, {"seg": np.ones((2, 16, 16), np.int32), "cancer": np.array([[0.0], [1.0]])}, verbose=0)
    path = tmp_path / "m.keras"
    net.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    a, b = net.predict(x, verbose=0), loaded.predict(x, verbose=0)
    np.testing.assert_allclose(a["seg"], b["seg"], atol=1e-6)
    np.testing.assert_allclose(a["cancer"], b["cancer"], atol=1e-6)
    assert isinstance(loaded.loss["seg"], DiceCELoss)
    assert loaded.loss["seg"].class_weights == (1.0, 1.0, 5.0)


def test_dice_metric_hand_computed():
    y_true = np.zeros((1, 4, 4), np.int32)
    y_true[0, :2, :2] = 1  # 4 liver pixels
    y_true[0, 3, 3] = 2  # 1 tumor pixel
    pred = np.zeros((1, 4, 4), np.int32)
    pred[0, :2, :1] = 1  # 2 liver pixels, both right
    pred[0, 3, 2] = 1  # 1 liver pixel, wrong
    pred[0, 0, 3] = 2  # 1 tumor pixel, wrong
    liver, tumor = DiceScore(1), DiceScore(2)
    liver.update_state(y_true, _onehot(pred))
    tumor.update_state(y_true, _onehot(pred))
    assert float(liver.result()) == pytest.approx(2 * 2 / (4 + 3))
    assert float(tumor.result()) == pytest.approx(0.0)
    # pooled over batches: a perfect second batch adds 4 + 4 liver pixels
    liver.update_state(y_true, _onehot(y_true))
    assert float(liver.result()) == pytest.approx(2 * (2 + 4) / (7 + 8))
    # class absent in truth and prediction: Dice 1, not 0/0
    empty = DiceScore(2)
    empty.update_state(np.zeros((1, 4, 4)), _onehot(np.zeros((1, 4, 4), np.int32)))
    assert float(empty.result()) == 1.0
    liver.reset_state()
    assert float(liver.result()) == 1.0


def test_dice_ce_loss_values():
    labels = np.zeros((2, 8, 8), np.int32)
    labels[:, 2:6, 2:6] = 1
    labels[:, 3, 3] = 2
    loss = DiceCELoss(dice_weight=1.0, ce_weight=0.0)
    perfect = float(keras.ops.mean(loss(labels, _onehot(labels))))
    assert perfect == pytest.approx(0.0, abs=1e-6)
    wrong = np.zeros_like(labels)  # everything background
    dice_only = float(keras.ops.mean(loss(labels, _onehot(wrong))))
    # batch Dice, smooth=1: liver 30 true pixels, tumor 2, none predicted
    assert dice_only == pytest.approx(1.0 - (1 / 31 + 1 / 3) / 2, abs=1e-5)
    # the tumor weight raises the CE of missed tumor pixels
    soft = np.full((2, 8, 8, 3), 1 / 3, np.float32)
    ce1 = float(keras.ops.mean(DiceCELoss((1, 1, 1), 0.0, 1.0)(labels, soft)))
    assert ce1 == pytest.approx(np.log(3), rel=1e-4)
    probs = _onehot(labels) * 0.9 + 0.1 / 3
    probs[:, 3, 3] = [0.45, 0.45, 0.1]  # tumor missed
    ce_plain = float(keras.ops.mean(DiceCELoss((1, 1, 1), 0.0, 1.0)(labels, probs)))
    ce_weighted = float(keras.ops.mean(DiceCELoss((1, 1, 10), 0.0, 1.0)(labels, probs)))
    assert ce_weighted > 2 * ce_plain


def test_flops_and_memory_estimate():
    net = build_unet(32, 1, depth=1, base_filters=2, dropout=0.0)
    # enc0: 3x3 1->2 and 2->2 at 32x32; bottleneck 2->4, 4->4 at 16x16;
    # up: 2x2 4->2 from 16x16; dec0: 4->2, 2->2 at 32x32; seg 1x1 2->3;
    # cancer: dense (4 avg + 4 max of the bottleneck) 8->64, 64->1; largest tumor probability 1->1
    expected = 2 * (
        9 * 1 * 2 * 1024 + 9 * 2 * 2 * 1024 + 9 * 2 * 4 * 256 + 9 * 4 * 4 * 256
        + 4 * 4 * 2 * 256 + 9 * 4 * 2 * 1024 + 9 * 2 * 2 * 1024 + 2 * 3 * 1024
        + 8 * 64 + 64 * 1 + 1 * 1
    )
    assert model_flops(net) == expected
    mem = training_memory_bytes(net, batch_size=4)
    assert mem["params"] == net.count_params()
    assert mem["total_bytes"] == mem["param_bytes"] + mem["activation_bytes"] > 0
    half = training_memory_bytes(net, batch_size=4, mixed_precision=True)
    assert half["activation_bytes"] * 2 == mem["activation_bytes"]
