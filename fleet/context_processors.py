from core.roles import is_admin, is_operator


def roles(request) -> dict:
    user = getattr(request, "user", None)
    return {"can_operate": is_operator(user), "can_administer": is_admin(user)}
