from lab.testing import lab, make_lab, registered_lab  # noqa: F401  (fixtures)
