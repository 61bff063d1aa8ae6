"""quantgate.boards"""
