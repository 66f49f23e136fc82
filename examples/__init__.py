"""Example applications of the K2 platform, runnable from the repository root:

.venv/bin/python -m examples.producer --outputs outputs.json
.venv/bin/python -m examples.consumer --outputs outputs.json --exchange equities.asx --max-records 20
"""
