"""skae's built-in plugins.

Each module here implements skae's hooks exactly as a third-party plugin does;
the registry registers them by module name before any installed plugin.
"""
