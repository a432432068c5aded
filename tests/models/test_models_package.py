"""The ``lecinpaint.models`` package: every public name resolves to its submodule's object, lazily."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import lecinpaint.models as models


def test_every_public_name_comes_from_its_submodule():
    where = {
        "CheckpointError": "_weights", "CheckpointNotFoundError": "_weights", "DFCNet": "dfcnet",
        "complete_flows": "dfcnet", "laplace_fill": "dfcnet", "load_dfc": "dfcnet", "FlowNet2": "flownet2",
        "load_flownet2": "flownet2", "PersonSegmenter": "segmentation",
        "load_person_segmenter": "segmentation", "read_flo": "flo", "write_flo": "flo",
    }
    assert sorted(models.__all__) == sorted(where)
    for name, module in where.items():
        sub = importlib.import_module(f"lecinpaint.models.{module}")
        assert getattr(models, name) is getattr(sub, name), name
    from lecinpaint.models import CheckpointNotFoundError, read_flo  # the "from" form goes the same way

    assert read_flo is sys.modules["lecinpaint.models.flo"].read_flo
    assert issubclass(CheckpointNotFoundError, Exception)


def test_unknown_names_are_attribute_errors():
    with pytest.raises(AttributeError, match=r"module 'lecinpaint.models' has no attribute 'load_raft'"):
        models.load_raft  # noqa: B018
    assert not hasattr(models, "flownet3")
    with pytest.raises(ImportError):
        exec("from lecinpaint.models import nothing_here", {})


def test_dir_lists_the_public_names():
    names = dir(models)
    assert set(models.__all__) <= set(names)
    assert names == sorted(names) and "__getattr__" in names


def test_importing_the_package_loads_no_model():
    # A fresh interpreter: the package alone imports none of the model modules; one name imports one.
    code = (
        "import sys, lecinpaint.models as m\n"
        "subs = ('dfcnet', 'flownet2', 'segmentation', 'flo', '_weights')\n"
        "print(sorted(s for s in subs if 'lecinpaint.models.' + s in sys.modules))\n"
        "m.write_flo\n"
        "print(sorted(s for s in subs if 'lecinpaint.models.' + s in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split("\n")[:2] == ["[]", "['flo']"]
