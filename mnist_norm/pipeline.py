"""The tf.data pipelines: training batches whose order and augmentation depend on (seed, epoch) only, and the
evaluation batches. The arrays come from mnist_norm.data (which loads without TensorFlow).
"""

from . import quiet_tf

quiet_tf.start()  # whoever imports this first: TensorFlow's C++ start-up lines only with --debug

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def augmenter(seed=None, rotation_degrees=7.0, shift_pixels=2.0, zoom=0.0, shear=0.0):
    """Random rotation and translation (the usual MNIST augmentation), optionally zoom and shear.

    `zoom` z scales images by a random factor in [1 - z, 1 + z]; `shear` s shears along
    x and y by up to s (Keras' `RandomShear` factors). Layers with a zero amount are
    left out, so the default pipeline is exactly rotation then translation.
    """
    layers = [
        keras.layers.RandomRotation(rotation_degrees / 360.0, fill_mode="constant", seed=seed),
        keras.layers.RandomTranslation(shift_pixels / 28.0, shift_pixels / 28.0, fill_mode="constant", seed=seed),
    ]
    if zoom:
        layers.append(keras.layers.RandomZoom((-zoom, zoom), fill_mode="constant", seed=seed))
    if shear:
        layers.append(keras.layers.RandomShear(shear, shear, fill_mode="constant", seed=seed))
    return keras.Sequential(layers, name="augment")


def _fixed_buffers(dataset):
    """Turns tf.data's autotuner off; our pipelines are tiny, so fixed buffers lose nothing.

    Keras deletes the dataset iterator at the end of every epoch, and with the
    autotuner on, that deletion waited about 2.5 s (all cores idle) in roughly one
    epoch out of four on a 2-core machine: the "slow epochs" of earlier studies.
    With fixed buffers it never happened in the same measurement.
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)


def make_dataset(images, labels, batch_size):
    """The evaluation pipeline: batches in order, converted to float32 once and cached."""
    dataset = tf.data.Dataset.from_tensor_slices((images, labels)).batch(batch_size)
    return _fixed_buffers(dataset.map(lambda x, y: (tf.cast(x, tf.float32), y)).cache().prefetch(2))


class TrainingBatches:
    """Training batches whose order and augmentation depend only on (seed, epoch).

        batches = TrainingBatches(images, labels, 128, seed=1)
        model.fit(batches.dataset, epochs=20, callbacks=[batches.callback()])

    tf.data's `reshuffle_each_iteration` and a layer's seed generator draw from state
    that a restarted process does not have, and Keras does not checkpoint it, so a run
    resumed at epoch k would see other batches than an uninterrupted run. Here pass k
    shuffles with the stateless seed (seed, k) and restarts the augmentation layers'
    seed generators at a value derived from (seed, k); `start_epoch(k)`, which
    `callback()` calls at each epoch start, sets k. A resumed run therefore sees
    exactly the batches an uninterrupted one would.

    The arrays sit in memory once; each pass shuffles *indices* and gathers whole
    batches (shuffling 60k image elements made every epoch wait seconds for the
    shuffle buffer to refill). Augmentation runs on whole batches, one batch at a
    time so that batch j of an epoch always gets the j-th draw.
    """

    def __init__(self, images, labels, batch_size, *, seed=0, augment=True):
        """`augment`: True (the default augmentation), False, or a dict of `augmenter` arguments."""
        self.seed = int(seed)
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
        if augment is True:
            augment = {}
        self.augmenter = augmenter(self.seed, **augment) if augment is not False else None
        images, labels = tf.constant(images), tf.constant(labels)
        count = len(labels)

        def one_pass(_):
            # Read when a pass's iterator starts, i.e. after `start_epoch`.
            seed = tf.stack([tf.constant(self.seed, tf.int64), self.epoch.read_value()])
            order = tf.random.experimental.stateless_shuffle(tf.range(count, dtype=tf.int64), seed)
            return tf.data.Dataset.from_tensor_slices(order)

        dataset = tf.data.Dataset.range(1).flat_map(one_pass).batch(batch_size)
        # flat_map hides the length; Keras needs it for progress bars and step counts.
        dataset = dataset.apply(tf.data.experimental.assert_cardinality(-(-count // batch_size))).map(
            lambda index: (tf.cast(tf.gather(images, index), tf.float32), tf.gather(labels, index)),
        )
        if self.augmenter is not None:
            dataset = dataset.map(lambda x, y: (self.augmenter(x, training=True), y))
        self.dataset = _fixed_buffers(dataset.prefetch(2))

    def start_epoch(self, epoch):
        """Makes the next pass epoch `epoch` (0-based) of this seed's sequence."""
        self.epoch.assign(epoch)
        if self.augmenter is not None:
            for index, layer in enumerate(self.augmenter.layers):
                state = layer.generator.state
                start = int(np.random.SeedSequence([self.seed, epoch, index]).generate_state(1)[0] % 2**31)
                state.assign(keras.ops.convert_to_tensor([start, 0], dtype=state.dtype))

    def callback(self):
        """A Keras callback that calls `start_epoch` at the start of every epoch."""
        return keras.callbacks.LambdaCallback(on_epoch_begin=lambda epoch, logs: self.start_epoch(epoch))
