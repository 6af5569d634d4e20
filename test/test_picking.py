"""The Panda picks in the simulated cell: motion planning (OMPL RRT-Connect, straight TCP lines), the
grasp pipeline's refusals, execution with physics, and the pick bench's report."""
import json
import subprocess
import sys

import numpy as np
import pytest

from binpick.catalog import Catalog
from binpick.geometry import make_T
from binpick.grasp.candidates import EstimatedPose
from binpick.grasp.motion import BuiltinPlanner, PlanningFailed, cartesian_path, densify, rrt_connect
from binpick.grasp.pipeline import GraspPipeline
from binpick.nodes.moveit_adapter import moveit_available, moveit_planner
from binpick.sim.generator import CellConfig
from binpick.sim.pick_cell import Q_HOME, Q_PLACE, PickCell
from binpick.sim.robot import PandaArm

CATALOG = Catalog()


def test_rrt_connect_goes_around_an_obstacle():
    wall = lambda q: not (abs(q[0]) < 0.2 and q[1] < 0.6)          # noqa: E731 - a wall with a gap above
    path = rrt_connect(np.array([-0.8, 0.0]), np.array([0.8, 0.0]), wall, np.full(2, -1.0), np.full(2, 1.0))
    assert path is not None and np.allclose(path[0], [-0.8, 0]) and np.allclose(path[-1], [0.8, 0])
    dense = densify(path, 0.001)
    assert np.abs(np.diff(dense, axis=0)).max() <= 0.001 + 1e-9
    # motions are checked every check_step (0.005): between two checks a path may graze the wall by at most
    # half a step, never cross it
    wall_less_a_step = lambda q: not (abs(q[0]) < 0.2 - 0.005 and q[1] < 0.6 - 0.005)   # noqa: E731
    assert all(wall_less_a_step(q) for q in dense)
    closed = lambda q: abs(q[0]) >= 0.2                             # noqa: E731 - no way through
    assert rrt_connect(np.array([-0.8, 0.0]), np.array([0.8, 0.0]), closed, np.full(2, -1.0), np.full(2, 1.0),
                       timeout_s=0.2) is None


def test_every_free_move_is_checked_between_its_waypoints():
    """Whichever planner made a path (OMPL, MoveIt), the built-in planner checks it finer than it executes:
    a path whose executed waypoints (every 0.02 rad) straddle a 12 mm wall is refused."""
    wall = lambda q: not (abs(q[0]) < 0.006 and q[1] < 0.5)        # noqa: E731
    through = BuiltinPlanner(None, wall, np.zeros(2), free_moves=lambda a, b: np.array([a, b]))
    assert all(wall(q) for q in densify(np.array([[-0.51, 0.0], [0.51, 0.0]]), 0.02))   # executed: clear
    with pytest.raises(PlanningFailed, match='no collision-free transit path'):
        through._transit(np.array([-0.51, 0.0]), np.array([0.51, 0.0]), 'transit')
    over = BuiltinPlanner(None, wall, np.zeros(2),
                          free_moves=lambda a, b: np.array([a, [a[0], 0.6], [b[0], 0.6], b]))
    path = over._transit(np.array([-0.51, 0.0]), np.array([0.51, 0.0]), 'transit')
    assert np.abs(np.diff(path, axis=0)).max() <= 0.02 + 1e-9 and all(wall(q) for q in path)


def test_cartesian_path_is_a_straight_tcp_line():
    with PandaArm() as arm:
        T_from = arm.fk(Q_HOME)
        T_to = T_from.copy()
        T_to[:3, 3] += [0.0, 0.05, -0.10]
        path = cartesian_path(arm, T_from, T_to, Q_HOME)
        assert path is not None and len(path) >= 11
        tcp = np.array([arm.fk(q)[:3, 3] for q in path])
        direction = (T_to[:3, 3] - T_from[:3, 3]) / np.linalg.norm(T_to[:3, 3] - T_from[:3, 3])
        off_line = np.linalg.norm(np.cross(tcp - T_from[:3, 3], direction), axis=1)
        assert off_line.max() < 0.003 and np.linalg.norm(tcp[-1] - T_to[:3, 3]) < 0.003
        far = T_from.copy()
        far[:3, 3] += [1.5, 0.0, 0.0]                                  # beyond the Panda's 0.855 m reach
        assert cartesian_path(arm, T_from, far, Q_HOME) is None


@pytest.fixture(scope='module')
def cell():
    with PickCell(CATALOG.get('zigzag_bracket'), CellConfig.from_config(), fill='low', seed=3) as c:
        yield c


def test_the_robot_stands_clear_of_the_tote(cell):
    cell.capture()
    assert cell.kinematics.arm_is_free(Q_HOME) and cell.kinematics.arm_is_free(Q_PLACE)
    # the hand put down through the tote's floor collides
    T_floor = cell.kinematics.fk(Q_HOME)
    T_floor[:3, 3] = cell.tote.T_base_tote[:3, 3] + [0.0, 0.0, -0.01]
    q = cell.kinematics.ik(T_floor, attempts=1)
    assert q is not None and not cell.kinematics.arm_is_free(q)


def test_unreachable_and_unverified_poses_leave_the_arm_where_it_is(cell):
    cap = cell.capture()
    obj = CATALOG.get('zigzag_bracket')
    planner = BuiltinPlanner(cell.kinematics, cell.kinematics.arm_is_free, Q_PLACE)
    with pytest.raises(PlanningFailed) as failed:
        planner.plan_pick(Q_HOME, make_T(np.diag([1.0, -1.0, -1.0]), [2.0, 0.0, 0.1]))
    assert failed.value.reason == 'no reachable grasp'
    pipeline = GraspPipeline(obj, cell.T_base_cam, cell.tote, cell.kinematics, planner)
    poses = [EstimatedPose(T, 1.0, 0.5, 0.004) for T in cap.T_cam_obj.values()]
    decision = pipeline.plan(poses, 0.1, 0.001, np.empty((0, 3)), cell.q)       # nothing passes verification
    assert decision.plan is None and decision.reason == 'no verified pose' and decision.verified == 0
    moved_away = [EstimatedPose(make_T(np.eye(3), [3.0, 0.0, 0.5]) @ T, 1.0, 0.0, 0.0) for T in cap.T_cam_obj.values()]
    decision = pipeline.plan(moved_away, None, None, np.empty((0, 3)), cell.q)
    assert decision.plan is None and decision.reason == 'no reachable grasp'
    assert np.allclose(cell.q, Q_HOME)


def test_a_part_is_picked_without_its_model(cell):
    """The model-free first pick: the simulator's masks, the cost map, a geometric grasp, physics."""
    from binpick.modelfree.first_pick import ModelFreePipeline
    from binpick.perception.stereo import stereo_depth
    pipeline = ModelFreePipeline(cell.T_base_cam, cell.tote, cell.kinematics,
                                 BuiltinPlanner(cell.kinematics, cell.kinematics.arm_is_free, Q_PLACE))
    config, outcomes = CellConfig.from_config(), []
    for _ in range(2):
        cap = cell.capture()
        depth = stereo_depth(cap.left_rgb, cap.right_rgb, cap.K[0, 0], cap.baseline_m, config.depth_min_m,
                             config.depth_max_m)
        masks = [cap.instance_image == i for i, px in cap.visible_px.items() if px >= 300]
        decision = pipeline.plan(depth, cap.K, masks, cell.q)
        assert decision.plan is not None, decision.reason
        assert decision.candidate.opening_m <= 0.08 and pipeline.last_cost_map.score.shape == depth.shape
        outcomes.append(cell.execute(decision.plan, decision.candidate.opening_m))
        if outcomes[-1].success:
            assert outcomes[-1].instance not in cell.sim.instance_ids          # it left the bin
            break
    assert any(o.success for o in outcomes) and not any(o.tote_contacts for o in outcomes)
    # the fingers close with the arm at the grasp, not on its way there (a thin part leaves no room for it)
    assert all(o.tcp_error_m < 0.001 for o in outcomes)


@pytest.mark.slow
def test_pick_bench_picks_with_ground_truth_poses(tmp_path):
    out = tmp_path / 'picking'
    command = [sys.executable, '-m', 'binpick.cli', 'pick-bench', '--object', 'zigzag_bracket', '--attempts', '2',
               '--fill', 'low', '--seed', '3', '4', '--out', str(out), '--threads', '1']
    run = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    results = json.loads((out / 'results.json').read_text())
    gt = results['sources']['ground truth']
    assert gt['attempts'] == 4 and results['gt_success_rate'] == 100.0 * gt['successes'] / 4
    assert gt['successes'] >= 1 and results['collisions'] == 0
    cycles = json.loads((out / 'cycles.json').read_text())
    assert [c['seed'] for c in cycles if c['executed']] == [3, 3, 4, 4]     # two picks in each seed's cell
    picked = [(c['seed'], c['instance']) for c in cycles if c['success']]
    assert len(picked) == len(set(picked)) == gt['successes']       # each success took a different part out
    report = (out / 'report.md').read_text()
    assert '| ground truth |' in report and '--seed 3 4' in report
    # the same command again: the finished source is kept, not run again
    again = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and 'ground truth: kept from the earlier run' in again.stdout, again.stderr[-2000:]
    assert json.loads((out / 'cycles.json').read_text()) == cycles


@pytest.mark.slow
def test_model_free_pick_bench_draws_its_first_frame(tmp_path):
    out = tmp_path / 'picking_model_free'
    command = [sys.executable, '-m', 'binpick.cli', 'pick-bench', '--object', 'zigzag_bracket', '--model-free',
               '--no-baseline', '--attempts', '1', '--fill', 'low', '--out', str(out), '--threads', '1']
    run = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    source = json.loads((out / 'results.json').read_text())['sources']['no model, simulator masks']
    assert source['attempts'] == 1 and source['figure'] == 'cost_map_no_model_simulator_masks.png'
    assert (out / source['figure']).stat().st_size > 10_000
    assert f'![no model, simulator masks]({source["figure"]})' in (out / 'report.md').read_text()


def _planners(arm, tote_boxes):
    """Every MotionPlanner this install has: the built-in one always; MoveIt's adapter where ``moveit_py`` and
    the Panda's MoveIt configuration (``moveit_resources_panda_moveit_config``) are installed. The pip set-up
    has neither, so CI runs the contract on the built-in planner only."""
    planners = {'built-in': BuiltinPlanner(arm, arm.arm_is_free, Q_PLACE)}
    if moveit_available():
        from moveit.planning import MoveItPy
        from moveit_configs_utils import MoveItConfigsBuilder
        config = MoveItConfigsBuilder('moveit_resources_panda').to_moveit_configs().to_dict()
        moveit = MoveItPy(node_name='binpick_planner_contract', config_dict=config)
        planners['moveit'] = moveit_planner(moveit, arm, arm.arm_is_free, Q_PLACE, tote_boxes)
    return planners


def test_motion_planner_contract():
    """What the grasp pipeline relies on from any planner: four continuous stages from the start joints
    through the grasp to the place joints, the grasp and the lift where asked, every configuration clear
    of the tote, and PlanningFailed with a pick-bench reason when there is no plan."""
    cfg = CellConfig.from_config()
    with PandaArm(obstacles=cfg.tote_boxes()) as arm:
        T_grasp = cfg.T_base_tote @ make_T(np.diag([1.0, -1.0, -1.0]), [0.03, 0.02, 0.04])   # top-down, 4 cm up
        for name, planner in _planners(arm, cfg.tote_boxes()).items():
            plan = planner.plan_pick(Q_HOME, T_grasp)
            assert [s for s, _ in plan.stages] == ['transit', 'approach', 'lift', 'place'], name
            assert np.allclose(plan.transit[0], Q_HOME) and np.allclose(plan.place[-1], Q_PLACE), name
            for (_, a), (_, b) in zip(plan.stages[:-1], plan.stages[1:]):
                assert np.abs(a[-1] - b[0]).max() < 1e-4, name                   # no jump between stages
            assert all(np.abs(np.diff(p, axis=0)).max() <= 0.02 + 1e-9 for _, p in plan.stages if len(p) > 1)
            at_grasp, lifted = arm.fk(plan.approach[-1]), arm.fk(plan.lift[-1])
            assert np.linalg.norm(at_grasp[:3, 3] - T_grasp[:3, 3]) < 0.003, name
            assert abs(lifted[2, 3] - T_grasp[2, 3] - 0.15) < 0.003, name
            assert all(arm.arm_is_free(q) for _, p in plan.stages for q in p), name
            assert plan.planning_s > 0
            below_floor = T_grasp.copy()
            below_floor[2, 3] = cfg.T_base_tote[2, 3] - 0.02
            with pytest.raises(PlanningFailed) as failed:
                planner.plan_pick(Q_HOME, below_floor)
            assert failed.value.reason in ('no reachable grasp', 'planning failed'), name
