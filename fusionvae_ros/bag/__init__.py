"""Rosbag tools of fusionvae_ros: make a demo bag, replay it, record the node's output, fuse offline, score,
register cameras.

Run as ``python -m fusionvae_ros.bag VERB`` or ``fusionvae_bag VERB`` (VERB: make-bag, replay, record, process,
score, register). Bags are real rosbag2 folders (MCAP storage) that ``ros2 bag`` understands.
"""
