"""What the other commands wrote, read back: ``compare`` two results against regression gates.

:mod:`~bnn_deploy.reporting.results` recognises and checks result files (bench, eval, profile,
predict JSON); :mod:`~bnn_deploy.reporting.compare` compares two bench or eval results artifact by
artifact against regression gates. Nothing here runs a model.
"""
