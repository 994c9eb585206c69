"""Classifiers taking images in [0, 1] (:mod:`~robinterp.models.architectures`), their files
(:mod:`~robinterp.models.checkpoint`), and running them (:mod:`~robinterp.models.running`)."""
