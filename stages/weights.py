"""Stage `weights`: resolve the VGG16 backbone's weights (ImageNet, a file, or seeded random) into models/pretrained."""

from pathlib import Path

from emotion_lib.cli import parser_for, run_stage

OUT_DIR = Path("models/pretrained")


def main(args) -> None:
    from emotion_lib.config import load_config
    from emotion_lib.pretrained import INFO_FILE, WEIGHTS_FILE, resolve_vgg16_weights

    config = load_config(args.params)
    info = resolve_vgg16_weights(
        weights=config.pretrained.weights,
        strict=config.pretrained.strict,
        seed=config.seed,
        out_path=OUT_DIR / WEIGHTS_FILE,
        info_path=OUT_DIR / INFO_FILE,
    )
    print(f"weights: VGG16 backbone source = {info['source']}")


if __name__ == "__main__":
    run_stage(main, parser_for(__doc__))
