"""FusionTabletop: a rendered robot-workspace benchmark with real 3D occlusions (pybullet TinyRenderer, CPU).

    python -m fusionvae_core.data.tabletop render --out data/fusion_tabletop --split train --count 20000
    dataset = build_dataset("fusion_tabletop", "train", "data/fusion_tabletop")

Target: a table or tray with 1-4 objects, random camera, light and placement, rendered without occluders. Views:
the same camera and scene with 1-4 other objects floating between camera and workspace, rendered for real.
Train / val / test use disjoint object sets. Scenes are rendered once into an on-disk cache (see cache.py).

fusion_tabletop_arm (sequence.py, `render --benchmark fusion_tabletop_arm`): the same workspaces watched by a fixed
camera while a robot arm moves over them; the views are frames of that sequence, the target the scene without the arm.
"""
