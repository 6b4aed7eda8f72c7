"""`[artifacts] public_keys`: each file must be an Ed25519 public key in PEM, or `store-edge check` names it."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from edge.config import ConfigError, load_config
from edge.config_files import check_files
from tests.edge.artifacts.hq_side import Signer


def test_check_names_every_unusable_public_key(tmp_path: Path) -> None:
    good = Signer().public_pem(tmp_path / "hq.pub")
    rsa_key = tmp_path / "rsa.pub"
    rsa_key.write_bytes(rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    (tmp_path / "junk.pub").write_text("not a key\n")
    path = tmp_path / "store.toml"
    path.write_text(f'[store]\nid = "s1"\n[data]\ndir = "{tmp_path / "data"}"\n'
                    f'[artifacts]\npublic_keys = ["{good}", "missing.pub", "{rsa_key}", "junk.pub"]\n')
    config = load_config(path, env={})
    assert config.artifacts.public_keys[1] == tmp_path / "missing.pub"  # relative to the configuration's folder
    problems = [p for p in check_files(config, path).problems if p.startswith("artifacts.")]
    assert problems[0].startswith(f"artifacts.public_keys[1]: {tmp_path / 'missing.pub'}: cannot read (No such file or directory)")
    assert problems[1] == f"artifacts.public_keys[2]: {rsa_key}: not an Ed25519 public key"
    assert problems[2].startswith(f"artifacts.public_keys[3]: {tmp_path / 'junk.pub'}: not a PEM public key")
    assert len(problems) == 3
    path.write_text(f'[store]\nid = "s1"\n[data]\ndir = "{tmp_path / "data"}"\n[artifacts]\npublic_keys = ["{good}"]\nkeep_versions = 1\n')
    with pytest.raises(ConfigError) as refused:
        load_config(path, env={})
    assert refused.value.problems[0].startswith("artifacts.keep_versions: ")
