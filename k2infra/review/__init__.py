"""The change summary of a preview, for review: what a `pulumi preview` means for K2.

`preview` reads the document `pulumi preview --json` prints; `summary` derives, as pure functions of
that document and the Plan, the topics, subjects and apps' access it changes and the guards that
refuse it; `facts` reads what the preview does not hold (record counts, the registry's
compatibility verdicts); `markdown` renders a pull-request comment. `python -m k2infra plan` runs it.
"""
