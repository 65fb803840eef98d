"""Quality benchmark: asktell strategies against Optuna and Ax on shared problems and seeds.

python -m bench.quality --quick
python -m bench.quality --problems 'bbob-*-d5' branin --seeds 5 --workers 2
"""
