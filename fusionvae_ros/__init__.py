"""ROS 2 side of fusionvae_ros: fusion node, view synchroniser, Image<->numpy codec and rosbag tools."""
