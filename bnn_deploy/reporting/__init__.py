"""What the other commands wrote, read back: ``compare`` two results, ``report`` a whole export as one page.

:mod:`~bnn_deploy.reporting.results` recognises and checks result files (bench, eval, profile,
predict JSON); :mod:`~bnn_deploy.reporting.compare` compares two bench or eval results artifact by
artifact against regression gates; :mod:`~bnn_deploy.reporting.page` renders an export with its
results as one self-contained HTML file. Nothing here runs a model.
"""
