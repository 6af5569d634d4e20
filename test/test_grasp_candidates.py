"""Poses -> grasps in the base frame: the transform, the symmetry expansion, the verification gate and
the collision filters of binpick.grasp.candidates."""
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from binpick.catalog.models_info import ContinuousSymmetry, ModelInfo
from binpick.geometry import axis_angle, make_T
from binpick.grasp.antipodal import gripper_corners, gripper_points
from binpick.grasp.candidates import (
    EstimatedPose,
    Tote,
    grasp_poses,
    hand_hits_tote,
    obstacle_mask,
    plan_grasps,
    symmetry_group,
)
from binpick.grasp.grasp_set import Grasp, GraspSet, Gripper

X, Z = np.array([1.0, 0, 0]), np.array([0, 0, 1.0])
# the camera 0.55 m above the tote floor, looking straight down (OpenCV: z forward)
T_BASE_CAM = make_T(axis_angle(X, np.pi), [0.5, 0.0, 0.55])
TOTE = Tote(make_T(np.eye(3), [0.5, 0.0, 0.0]), (0.36, 0.28, 0.12))
INFO = ModelInfo(0.05, np.full(3, -0.025), np.full(3, 0.05))
# a top grasp: TCP 10 mm above the object origin, approaching along object -z, 20 mm wide
TOP = Grasp(make_T(np.diag([1.0, -1.0, -1.0]), [0, 0, 0.01]), 0.02, 0.9)
GRASPS = GraspSet('test', Gripper(), [TOP])


def facing_camera(x_cam=0.03, y_cam=0.0, yaw=np.pi / 2):
    """T_cam_obj of a part 0.5 m from the camera with its +z towards the camera (up in the base frame)."""
    return make_T(axis_angle(X, np.pi) @ axis_angle(Z, yaw), [x_cam, y_cam, 0.5])


def pose(T_cam_obj, d_a=0.1, d_g=0.001, confidence=0.8):
    return EstimatedPose(T_cam_obj, confidence, d_a, d_g)


def test_grasp_transform_by_hand():
    (g, s, T), = grasp_poses(T_BASE_CAM, facing_camera(), GRASPS, [np.eye(4)])
    # by hand: R_base_obj = Rz(90 deg); the origin at base (0.5 + 0.03, 0, 0.55 - 0.5); the TCP 10 mm above
    # it, approaching straight down, the fingers closing along base x (object -y turned by 90 deg)
    assert (g, s) == (0, 0)
    assert np.allclose(T[:3, 3], [0.53, 0.0, 0.06])
    assert np.allclose(T[:3, 2], [0.0, 0.0, -1.0])
    assert np.allclose(T[:3, 1], [1.0, 0.0, 0.0])


def test_symmetry_expansion():
    flip = make_T(axis_angle(X, np.pi), [0, 0, 0])
    discrete = ModelInfo(0.05, INFO.min_xyz_m, INFO.size_xyz_m, symmetries_discrete=[flip])
    assert len(symmetry_group(INFO)) == 1 and len(symmetry_group(discrete)) == 2
    cont = ModelInfo(0.05, INFO.min_xyz_m, INFO.size_xyz_m, symmetries_continuous=[ContinuousSymmetry(Z)])
    group = symmetry_group(cont, continuous_steps=8)
    angles = sorted(round(np.degrees(np.arctan2(S[1, 0], S[0, 0]))) % 360 for S in group)
    assert angles == [0, 45, 90, 135, 180, 225, 270, 315]
    poses = grasp_poses(T_BASE_CAM, facing_camera(), GRASPS, group)
    assert len({tuple(np.round(T[:3, 1], 6)) for _, _, T in poses}) == 8    # eight closing directions


def test_only_verified_poses_are_grasped():
    poses = [pose(facing_camera(-0.05)), pose(facing_camera(0.05), d_a=0.9), pose(facing_camera(0.0), d_g=0.02)]
    found, removed = plan_grasps(poses, 0.5, 0.005, GRASPS, INFO, T_BASE_CAM, np.empty((0, 3)), TOTE)
    assert {c.instance for c in found} == {0} and removed['unverified pose'] == 2
    assert plan_grasps(poses, 0.0, 0.0, GRASPS, INFO, T_BASE_CAM, np.empty((0, 3)), TOTE)[0] == []   # tau = 0
    nan = pose(np.full((4, 4), np.nan), d_a=np.nan, d_g=np.nan)
    assert plan_grasps([nan], 0.5, 0.005, GRASPS, INFO, T_BASE_CAM, np.empty((0, 3)), TOTE)[0] == []


@pytest.mark.slow
def test_the_tote_test_on_the_hand_boxes_matches_a_dense_point_test():
    """The hand's boxes in or against the tote, judged from their corners and rim crossings, against the
    hand filled with 1 mm points tested one by one (below the rim and outside the free space = a hit)."""
    rng = np.random.default_rng(3)
    gripper, clearance = Gripper(), 0.003
    corners, points = gripper_corners(gripper, 0.04, step=0.001), gripper_points(gripper, 0.04, step=0.001)
    half = np.array(TOTE.inner_size_m[:2]) / 2 - clearance
    T_base_tcp = np.stack([make_T(Rotation.random(random_state=k).as_matrix() @ np.diag([1.0, -1.0, -1.0]),
                                  [0.5 + rng.uniform(-0.25, 0.25), rng.uniform(-0.2, 0.2), rng.uniform(0.0, 0.25)])
                           for k in range(300)])
    hits = hand_hits_tote(corners, T_base_tcp, TOTE, clearance)
    dense = []
    for T in T_base_tcp:
        p = points @ T[:3, :3].T + T[:3, 3] - TOTE.T_base_tote[:3, 3]
        outside = (np.abs(p[:, :2]) > half).any(axis=1) | (p[:, 2] < clearance)
        dense.append(bool(((p[:, 2] < TOTE.inner_size_m[2]) & outside).any()))
    assert 0.2 < hits.mean() < 0.95                       # both kinds of pose are drawn
    assert (hits == np.array(dense)).mean() >= 0.98      # the dense test misses only what falls between its points
    # a finger tip below the rim inside, its box leaving through the rim above the wall: only the edges show it
    edge = np.zeros((1, 8, 3))
    edge[0, :, :] = [0.17, 0.0, 0.11]                    # tote frame: the wall's inner face at x = 0.18, rim at 0.12
    edge[0, 4:, :] = [0.30, 0.0, 0.14]
    assert (edge[0, :4, 0] < 0.18).all() and (edge[0, 4:, 2] > 0.12).all()   # each corner alone is fine
    assert hand_hits_tote(edge, TOTE.T_base_tote, TOTE, 0.0)[0]
    assert not hand_hits_tote(edge - [0.15, 0.0, 0.0], TOTE.T_base_tote, TOTE, 0.0)[0]


def test_collision_filters():
    (_, _, T), = grasp_poses(T_BASE_CAM, facing_camera(), GRASPS, [np.eye(4)])
    inside_finger = np.array([0.0, (TOP.width + 0.010) / 2 + 0.004, -0.01])   # gripper frame
    cloud = (T[:3, :3] @ inside_finger + T[:3, 3])[None]
    found, removed = plan_grasps([pose(facing_camera())], 0.5, 0.005, GRASPS, INFO, T_BASE_CAM, cloud, TOTE)
    assert found == [] and removed['collides with the observed points'] == 1
    # 2 cm away from the same point: clear
    found, _ = plan_grasps([pose(facing_camera())], 0.5, 0.005, GRASPS, INFO, T_BASE_CAM, cloud + [0, 0.02, 0.05],
                           TOTE)
    assert len(found) == 1 and found[0].clearance_m > 0.005
    # next to the tote's +x wall (inner face at x = 0.68): the palm, 0.204 m wide along x, hits it
    found, removed = plan_grasps([pose(facing_camera(0.12))], 0.5, 0.005, GRASPS, INFO, T_BASE_CAM,
                                 np.empty((0, 3)), TOTE)
    assert found == [] and removed['collides with the tote'] == 1
    # turned 90 deg the fingers close along y and the palm lies along y: clear of the +x wall
    found, _ = plan_grasps([pose(facing_camera(0.12, yaw=0.0))], 0.5, 0.005, GRASPS, INFO, T_BASE_CAM,
                           np.empty((0, 3)), TOTE)
    assert len(found) == 1


def test_approach_width_reach_and_ranking():
    lying = make_T(axis_angle(X, np.pi / 2), [0.0, 0.0, 0.5])     # +z sideways: approach horizontal
    found, removed = plan_grasps([pose(lying)], 0.5, 0.005, GRASPS, INFO, T_BASE_CAM, np.empty((0, 3)), TOTE)
    assert found == [] and removed['approach angle'] == 1
    wide = GraspSet('test', Gripper(), [Grasp(TOP.T_obj_grasp, 0.075, 0.9)])
    assert plan_grasps([pose(facing_camera())], 0.5, 0.005, wide, INFO, T_BASE_CAM, np.empty((0, 3)),
                       TOTE)[1]['too wide'] == 1
    found, removed = plan_grasps([pose(facing_camera())], 0.5, 0.005, GRASPS, INFO, T_BASE_CAM, np.empty((0, 3)),
                                 TOTE, reachable=lambda T: T[0, 3] < 0.5)
    assert found == [] and removed['unreachable'] == 1
    # two parts: the higher one (nearer the camera) and the more confident one rank first
    high, low = facing_camera(-0.05), facing_camera(0.05)
    low[2, 3] += 0.03
    cloud = np.array([[0.45, 0.0, 0.05], [0.55, 0.0, 0.02]])
    found, _ = plan_grasps([pose(low), pose(high)], 0.5, 0.005, GRASPS, INFO, T_BASE_CAM, cloud, TOTE)
    assert [c.instance for c in found] == [1, 0]
    assert all(np.isfinite(c.score) for c in found) and gripper_points(Gripper(), 0.03).shape[1] == 3


def test_the_part_itself_and_the_tote_faces_are_not_obstacles():
    (_, _, T), = grasp_poses(T_BASE_CAM, facing_camera(), GRASPS, [np.eye(4)])
    inside_finger = T[:3, :3] @ np.array([0.0, (TOP.width + 0.010) / 2 + 0.004, -0.01]) + T[:3, 3]
    # a point of the part (its posed surface passes 2 mm from it) is the part, not an obstacle:
    # the CAD grasps were checked against the part's own mesh
    T_base_obj = T_BASE_CAM @ facing_camera()
    surface = np.linalg.inv(T_base_obj) @ np.append(inside_finger + [0.002, 0, 0], 1.0)
    found, removed = plan_grasps([pose(facing_camera())], 0.5, 0.005, GRASPS, INFO, T_BASE_CAM,
                                 inside_finger[None], TOTE, model_points_m=surface[None, :3])
    assert len(found) == 1, removed
    found, removed = plan_grasps([pose(facing_camera())], 0.5, 0.005, GRASPS, INFO, T_BASE_CAM,
                                 inside_finger[None], TOTE)
    assert found == [] and removed['collides with the observed points'] == 1
    # the floor (5 mm above it: stereo scatter) and the walls are the tote model's, not obstacles
    floor_and_wall = np.array([[0.5, 0.0, 0.005], [0.5 + 0.18 - 0.005, 0.0, 0.06], [0.5, 0.0, 0.05]])
    assert np.allclose(floor_and_wall[obstacle_mask(floor_and_wall, TOTE, 0.015, 0.015)], [[0.5, 0.0, 0.05]])
