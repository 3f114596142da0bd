"""Target profiles (YAML), installed as the package ``nirdeploy.profiles`` so the wheel ships them."""
