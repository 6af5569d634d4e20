"""6D pose network after DC-Net (Tian et al., ICRA 2020) as used by the ECCV 2022 self-training paper."""
